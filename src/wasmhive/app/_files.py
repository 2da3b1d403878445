"""A component's `files`: staged into one read-only directory that becomes its filesystem root.

Globs are relative to the app dir and keep their relative path under `/`; `{source, destination}`
mounts a directory at `destination`; `exclude_files` globs are removed. Nothing else of the host is
visible. Files are hard-linked where possible (copied otherwise) into `.wasmhive/files/<id>/`, so a
guest cannot reach outside them through symlinks or `..`.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

from ..errors import ConfigError
from ._model import AppConfig, ComponentConfig

__all__ = ["stage_files"]


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def stage_files(app: AppConfig, comp: ComponentConfig) -> Path | None:
    """Build the component's file tree; None when it declares no `files`."""
    if not comp.files:
        return None
    root = app.state_dir / "files" / comp.id
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    app_dir = app.dir.resolve()
    placed: dict[str, Path] = {}
    for mount in comp.files:
        if mount.destination is None:
            matches = sorted(app_dir.glob(mount.source)) if not Path(mount.source).is_absolute() else []
            if not matches and not any(c in mount.source for c in "*?["):
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: files entry "
                                  f"{mount.source!r} matches nothing")
            for m in matches:
                if m.is_file():
                    placed[m.relative_to(app_dir).as_posix()] = m
        else:
            src = (app_dir / mount.source).resolve()
            if not src.is_dir():
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: files source {mount.source!r} "
                                  "is not a directory")
            dest = mount.destination.strip("/")
            for m in sorted(src.rglob("*")):
                if m.is_file():
                    placed[f"{dest}/{m.relative_to(src).as_posix()}".lstrip("/")] = m
    for rel, src in placed.items():
        if any(fnmatch.fnmatch(rel, pat.lstrip("/")) for pat in comp.exclude_files):
            continue
        resolved = src.resolve()
        if not resolved.is_relative_to(app_dir):
            raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: {rel} points outside the app directory")
        _place(resolved, root / rel)
    return root
