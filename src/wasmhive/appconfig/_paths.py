"""Paths named by an app's manifest or runtime config: confined to the app directory.

A manifest is untrusted input (it comes with the app). Every path it names is checked twice: by its
text when the manifest is parsed (relative, no `..`, no NUL: an error that points at the line) and by
where it leads on disk when it is used (after symlinks are resolved, it must still be inside the app).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

__all__ = ["confined", "lexical_problem", "mount_point_problem"]


def lexical_problem(text: str) -> str | None:
    """Why the relative path (or glob) `text` may not be used as written, or None when it may."""
    if not text:
        return "is empty"
    if "\0" in text:
        return "contains a NUL byte"
    if text.startswith(("/", "\\")) or PurePosixPath(text).is_absolute() or (len(text) > 1 and text[1] == ":"):
        return "must be relative to the app directory"
    if ".." in text.replace("\\", "/").split("/"):
        return "must not contain `..`"
    return None


def mount_point_problem(text: str) -> str | None:
    """Why `text` is not a usable absolute guest path (a `files` destination), or None."""
    if "\0" in text:
        return "contains a NUL byte"
    if not text.startswith("/"):
        return "must be absolute"
    if ".." in text.split("/"):
        return "must not contain `..`"
    return None


def confined(root: Path, rel: str | Path) -> Path | None:
    """`root / rel` with symlinks resolved, or None when that leads outside `root` (resolved too)."""
    base = root.resolve()
    try:
        full = (base / rel).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return None
    return full if full.is_relative_to(base) else None
