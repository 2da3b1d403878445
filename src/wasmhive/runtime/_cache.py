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
    """A directory of compiled artifacts keyed by content and engine settings.

    `hits`, `misses` and `writes` count this object's lookups that returned an entry, lookups that
    did not (absent or corrupt), and entries stored: how a caller (or a test) sees whether loading
    reused code another process compiled.
    """

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self.writes = 0

    @staticmethod
    def key(wasm: bytes, fingerprint: str) -> str:
        """The entry name for `wasm` compiled by an engine with this `EngineSettings.fingerprint()`."""
        h = hashlib.sha256(wasm)
        h.update(b"\0")
        h.update(fingerprint.encode())
        return h.hexdigest()

    def path(self, key: str) -> Path:
        """Where the entry for `key` lives (whether or not it exists)."""
        return self.directory / key[:2] / f"{key}.cwasm"

    def get(self, key: str) -> bytes | None:
        """The verified payload for `key`, or None (missing or corrupt; a corrupt entry is removed)."""
        p = self.path(key)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as e:
            log.warning("compile cache entry unreadable (%s): %s", p, e)
            self.misses += 1
            return None
        payload = memoryview(data)[_HEADER:]
        if data[: len(MAGIC)] != MAGIC or hashlib.sha256(payload).digest() != data[len(MAGIC):_HEADER]:
            log.warning("compile cache entry corrupt, recompiling: %s", p)
            self.discard(key)
            self.misses += 1
            return None
        self.hits += 1
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
                self.writes += 1
            except BaseException:
                with _suppress():
                    os.unlink(tmp)
                raise
        except OSError as e:
            log.warning("cannot write compile cache %s: %s", self.directory, e)

    def discard(self, key: str) -> None:
        """Remove the entry for `key` if there is one (an entry wasmtime refused)."""
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
        """Create the directory now, or raise `CacheError` saying why it cannot be."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create compile cache directory {self.directory}: {e}") from e


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]
