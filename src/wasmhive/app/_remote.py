"""Remote component sources: Spin's `source = { url = "https://...", digest = "sha256:<hex>" }`.

Downloaded once at start-up into the source cache (`$WASMHIVE_SOURCE_CACHE`, else the user cache dir's
`wasmhive/sources`, beside the compile cache), named by digest. The digest is the trust anchor: a
download whose SHA-256 differs refuses start-up naming both digests and nothing is cached; a cached
copy is hashed again on every start (a corrupted or replaced file is fetched anew). Only http(s), also
for redirects; at most `MAX_BYTES`; every socket operation has a timeout, and the whole download a
deadline. A download that takes more than a second reports progress.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import platformdirs

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..appconfig import AppConfig

__all__ = ["DIGEST", "MAX_BYTES", "cached_path", "fetch_remote_sources", "fetch_source", "source_cache_dir"]

log = logging.getLogger("wasmhive.app")
DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
MAX_BYTES = 256 * 1024 * 1024
SOCKET_TIMEOUT = 30.0  # seconds per connect/read
TOTAL_TIMEOUT = 600.0  # seconds for one whole download
CHUNK = 256 * 1024
Progress = Callable[[str, float | None, str], None]


def source_cache_dir() -> Path:
    """`$WASMHIVE_SOURCE_CACHE`, else the user's cache dir (e.g. ~/.cache/wasmhive/sources)."""
    env = os.environ.get("WASMHIVE_SOURCE_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("wasmhive")) / "sources"


def cached_path(digest: str) -> Path:
    """Where the source with this (valid) `sha256:<hex>` digest lives once downloaded."""
    return source_cache_dir() / f"sha256-{digest.removeprefix('sha256:')}.wasm"


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """urllib follows redirects to ftp:// too; a component comes over http(s) only."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.URLError(f"redirect to {newurl!r} refused (only http and https)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def fetch_source(url: str, digest: str, *, what: str = "component", progress: Callable[[str], None] | None = None,
                 max_bytes: int = MAX_BYTES) -> Path:
    """The cached file for `url` with SHA-256 `digest`, downloading it if absent or no longer matching.

    Raises `ConfigError` (one line: what, the URL, and why) on any failure; nothing is cached then."""
    if not DIGEST.match(digest):
        raise ConfigError(f"{what}: digest {digest!r} must be \"sha256:<64 lowercase hex digits>\"")
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"{what}: source url {url!r} must be http:// or https://")
    dest = cached_path(digest)
    if dest.is_file():
        if _sha256(dest) == digest:
            return dest
        log.warning("%s: the cached copy of %s no longer has digest %s: downloading it again", what, url, digest)
        dest.unlink(missing_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".part-{os.getpid()}-{time.monotonic_ns()}-{dest.name}")
    try:
        got = _download(url, tmp, what=what, progress=progress, max_bytes=max_bytes)
        if got != digest:
            raise ConfigError(f"{what}: {url} has digest {got}, but the manifest expects {digest} "
                              "(nothing was cached)")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return dest


def _download(url: str, tmp: Path, *, what: str, progress: Callable[[str], None] | None, max_bytes: int) -> str:
    """Stream `url` into `tmp`; its digest."""
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    start = last = time.monotonic()
    h = hashlib.sha256()
    size = 0
    try:
        with opener.open(urllib.request.Request(url, headers={"User-Agent": "wasmhive"}),
                         timeout=SOCKET_TIMEOUT) as resp, tmp.open("wb") as out:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise ConfigError(f"{what}: {url} is {total} bytes, more than the {max_bytes}-byte limit")
            while chunk := resp.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ConfigError(f"{what}: {url} is more than the {max_bytes}-byte limit")
                h.update(chunk)
                out.write(chunk)
                now = time.monotonic()
                if now - start > TOTAL_TIMEOUT:
                    raise ConfigError(f"{what}: downloading {url} took more than {TOTAL_TIMEOUT:g}s")
                if progress is not None and now - last >= 1.0:
                    last = now
                    of = f" of {total / 1e6:.1f}" if total else ""
                    progress(f"downloading {url}: {size / 1e6:.1f}{of} MB")
    except ConfigError:
        raise
    except urllib.error.HTTPError as e:
        raise ConfigError(f"{what}: downloading {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise ConfigError(f"{what}: downloading {url} failed: {e.reason}") from None
    except (OSError, ValueError) as e:  # timeouts, resets, a malformed response
        raise ConfigError(f"{what}: downloading {url} failed: {e or type(e).__name__}") from None
    return "sha256:" + h.hexdigest()


def fetch_remote_sources(config: AppConfig, progress: Progress | None = None) -> None:
    """Make every component with a remote source available at its `source` path (start-up)."""
    for comp in config.components.values():
        if comp.remote is None:
            continue
        url, digest = comp.remote
        t0 = time.perf_counter()
        reported: list[str] = []

        def report(line: str, cid: str = comp.id, reported: list[str] = reported) -> None:
            reported.append(line)
            if progress is not None:
                progress(cid, None, line)
            else:
                log.info("component %s: %s", cid, line)

        comp.source = fetch_source(url, digest, what=f"{config.manifest_path}: component `{comp.id}`",
                                   progress=report)
        if reported and progress is not None:
            progress(comp.id, time.perf_counter() - t0, f"downloaded {comp.source.stat().st_size / 1e6:.1f} MB")
