"""A component's `files`: staged into one read-only directory that becomes its filesystem root.

Globs are relative to the app dir and keep their relative path under `/`; `{source, destination}`
mounts a directory at `destination`; `exclude_files` globs are removed. Nothing else of the host is
visible. Files are hard-linked where possible (copied otherwise) into `.wasmhive/files/<id>/`, so a
guest cannot reach outside them through symlinks or `..`.

The manifest is untrusted: every source must resolve (symlinks followed) inside the app directory,
every destination stays inside the staging directory, and staging writes only into a directory it has
just created itself (never through a symlinked `.wasmhive`, never over an existing file).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path, PurePosixPath

from ..errors import ConfigError
from ._model import AppConfig, ComponentConfig
from ._paths import confined, lexical_problem, mount_point_problem

__all__ = ["stage_files", "state_dir"]


def state_dir(app: AppConfig) -> Path:
    """The app's `.wasmhive/` directory, created if missing; refused when it (or a symlink in its place)
    leads outside the app directory."""
    d = app.state_dir
    if d.is_symlink() or (d.exists() and confined(app.dir, d.name) is None):
        raise ConfigError(f"{d}: the app's state directory must be a real directory inside the app, "
                          "not a symlink")
    try:
        d.mkdir(exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{d}: cannot create the app's state directory: {e}") from None
    return d


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except FileExistsError:
        raise  # two entries for one path: never overwrite
    except OSError:
        # A copy that refuses to overwrite: `dest` is new in a directory we created.
        with open(src, "rb") as fin, open(dest, "xb") as fout:
            shutil.copyfileobj(fin, fout)
        shutil.copystat(src, dest)


def _fresh_root(app: AppConfig, comp: ComponentConfig) -> Path:
    """An empty `.wasmhive/files/<id>/` made by us, inside the app's state directory."""
    files = state_dir(app) / "files"
    if files.is_symlink():
        raise ConfigError(f"{files}: must be a directory, not a symlink")
    files.mkdir(exist_ok=True)
    root = files / comp.id
    if root.is_symlink() or root.is_file():
        root.unlink()
    else:
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    if not root.resolve().is_relative_to(app.dir.resolve()):
        raise ConfigError(f"{root}: staging directory leads outside the app directory")
    return root


def _dest(app: AppConfig, comp: ComponentConfig, destination: str) -> str:
    problem = mount_point_problem(destination)
    if problem is not None:
        raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: files destination {destination!r} {problem}")
    return PurePosixPath(destination).as_posix().strip("/")


def stage_files(app: AppConfig, comp: ComponentConfig) -> Path | None:
    """Build the component's file tree; None when it declares no `files`."""
    if not comp.files:
        return None
    app_dir = app.dir.resolve()
    where = f"{app.manifest_path}: component `{comp.id}`"
    placed: dict[str, Path] = {}
    for mount in comp.files:
        problem = lexical_problem(mount.source)
        if problem is not None:
            raise ConfigError(f"{where}: files entry {mount.source!r} {problem}")
        if mount.destination is None:
            matches = sorted(app_dir.glob(mount.source))
            if not matches and not any(c in mount.source for c in "*?["):
                raise ConfigError(f"{where}: files entry {mount.source!r} matches nothing")
            for m in matches:
                if m.is_file():
                    placed[m.relative_to(app_dir).as_posix()] = m
        else:
            dest = _dest(app, comp, mount.destination)
            src = confined(app_dir, mount.source)
            if src is None:
                raise ConfigError(f"{where}: files source {mount.source!r} leads outside the app directory")
            if not src.is_dir():
                raise ConfigError(f"{where}: files source {mount.source!r} is not a directory")
            for m in sorted(src.rglob("*")):
                if m.is_file():
                    placed[f"{dest}/{m.relative_to(src).as_posix()}".lstrip("/")] = m
    root = _fresh_root(app, comp)
    for rel, src in placed.items():
        if any(fnmatch.fnmatch(rel, pat.lstrip("/")) for pat in comp.exclude_files):
            continue
        resolved = src.resolve()
        if not resolved.is_relative_to(app_dir):
            raise ConfigError(f"{where}: {rel} points outside the app directory")
        target = root / rel
        if not target.resolve().is_relative_to(root.resolve()):
            raise ConfigError(f"{where}: {rel} would be staged outside the staging directory")
        try:
            _place(resolved, target)
        except OSError as e:
            raise ConfigError(f"{where}: cannot stage {rel}: {e.strerror or e}") from None
    return root
