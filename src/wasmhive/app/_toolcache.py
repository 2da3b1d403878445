"""The toolchain cache directory and its cross-process lock, shared by guest builds and standard WIT."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs

__all__ = ["locked", "toolchain_cache_dir"]


def toolchain_cache_dir() -> Path:
    """Where builds, zig's cache and fetched WIT live: `$WASMHIVE_TOOLCHAIN_CACHE` or the user cache dir."""
    env = os.environ.get("WASMHIVE_TOOLCHAIN_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("wasmhive")) / "toolchains"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (a sibling .lock file), so parallel sessions build once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock, builds may repeat
        yield
        return
    with open(str(path) + ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
