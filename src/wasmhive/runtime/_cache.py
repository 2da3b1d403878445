"""The on-disk compile cache.

Key: SHA-256 of the Wasm bytes + the engine fingerprint (wasmtime version and every setting that
changes code). Entry: `MAGIC | sha256(payload) | payload`, written to a temporary file and renamed
into place, so readers never see half an entry. An entry whose checksum does not match, or that
wasmtime refuses (foreign version, other settings), is discarded and recompiled: never a crash,
and never native code loaded without its checksum verified first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import platformdirs

from ..errors import CacheError

__all__ = ["CompileCache", "default_cache_dir"]

log = logging.getLogger("wasmhive.cache")
MAGIC = b"WHVC\x01\x00\x00\x00"
_HEADER = len(MAGIC) + 32


def default_cache_dir() -> Path:
    """`$WASMHIVE_CACHE`, else the user's cache dir (e.g. ~/.cache/wasmhive/compiled)."""
    env = os.environ.get("WASMHIVE_CACHE")
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir("wasmhive")) / "compiled"


class CompileCache:
    """A directory of compiled artifacts keyed by content and engine settings."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    @staticmethod
    def key(wasm: bytes, fingerprint: str) -> str:
        h = hashlib.sha256(wasm)
        h.update(b"\0")
        h.update(fingerprint.encode())
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.cwasm"

    def get(self, key: str) -> bytes | None:
        """The verified payload for `key`, or None (missing or corrupt; a corrupt entry is removed)."""
        p = self.path(key)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("compile cache entry unreadable (%s): %s", p, e)
            return None
        payload = memoryview(data)[_HEADER:]
        if data[: len(MAGIC)] != MAGIC or hashlib.sha256(payload).digest() != data[len(MAGIC):_HEADER]:
            log.warning("compile cache entry corrupt, recompiling: %s", p)
            self.discard(key)
            return None
        return bytes(payload)

    def put(self, key: str, payload: bytes | bytearray) -> None:
        """Store atomically; a cache we cannot write is logged, not fatal."""
        p = self.path(key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC)
                    f.write(hashlib.sha256(payload).digest())
                    f.write(payload)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, p)
            except BaseException:
                with _suppress():
                    os.unlink(tmp)
                raise
        except OSError as e:
            log.warning("cannot write compile cache %s: %s", self.directory, e)

    def discard(self, key: str) -> None:
        with _suppress():
            self.path(key).unlink()

    def clear(self) -> int:
        """Remove every entry; returns how many were removed."""
        n = 0
        if not self.directory.is_dir():
            return 0
        for p in self.directory.glob("*/*.cwasm"):
            with _suppress():
                p.unlink()
                n += 1
        return n

    def ensure_writable(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create compile cache directory {self.directory}: {e}") from e


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]
