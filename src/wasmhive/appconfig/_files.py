"""A component's `files`: staged into one read-only directory that becomes its filesystem root.

Globs are relative to the app dir and keep their relative path under `/`; `{source, destination}`
mounts a directory at `destination`; `exclude_files` globs are removed. Nothing else of the host is
visible. Files are hard-linked where possible (copied otherwise) into `.wasmhive/files/<id>-<version>/`,
so a guest cannot reach outside them through symlinks or `..`.

Several processes stage the same app at once (nodes started together on one app directory, the workers
of `--workers N`), and each serves from its staged tree for as long as it runs. So a tree is never built
in place nor removed: it is built in a private temporary directory and renamed into place (atomic), under
a name that is a digest of what it holds (each path and its source's identity, size and mtime). Whoever
renames first wins; the others find the same tree there and use it; an edited source makes a new version
beside the old one, which a process started earlier still serves. A file lock would serialise the
builders but still rebuild a tree under a process serving from it; a per-process tree would leave one
copy per pid behind. Old versions stay until `.wasmhive/` is removed (hard links: they cost no data).

The manifest is untrusted: every source must resolve (symlinks followed) inside the app directory,
every destination stays inside the staging directory, and staging writes only into a directory it has
just created itself (never through a symlinked `.wasmhive`, never over an existing file).
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import shutil
import tempfile
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


def _files_dir(app: AppConfig) -> Path:
    """`.wasmhive/files/`, a real directory inside the app's state directory."""
    files = state_dir(app) / "files"
    if files.is_symlink():
        raise ConfigError(f"{files}: must be a directory, not a symlink")
    try:
        files.mkdir(exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{files}: cannot create the staging directory: {e.strerror or e}") from None
    if not files.resolve().is_relative_to(app.dir.resolve()):
        raise ConfigError(f"{files}: staging directory leads outside the app directory")
    return files


def _version(entries: list[tuple[str, Path]]) -> str:
    """A digest of the tree to stage: every staged path with its source's identity, size and mtime."""
    h = hashlib.sha256()
    for rel, src in entries:
        st = src.stat()
        h.update(f"{rel}\0{src}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_mode}\n".encode())
    return h.hexdigest()[:20]


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
    entries: list[tuple[str, Path]] = []
    for rel, src in placed.items():
        if any(fnmatch.fnmatch(rel, pat.lstrip("/")) for pat in comp.exclude_files):
            continue
        resolved = src.resolve()
        if not resolved.is_relative_to(app_dir):
            raise ConfigError(f"{where}: {rel} points outside the app directory")
        entries.append((rel, resolved))
    try:
        files = _files_dir(app)
        root = files / f"{comp.id}-{_version(entries)}"
        if root.is_symlink() or root.is_file():
            root.unlink()  # not ours: a tree is only ever put there by the rename below
        if root.is_dir():
            # Staged already (by another process, or an earlier start): complete, since only a finished tree
            # is renamed there; and not plantable ahead, since the name hashes the sources' inodes and mtimes.
            return root
        tmp = Path(tempfile.mkdtemp(prefix=f".{comp.id}.", dir=files))
    except OSError as e:
        raise ConfigError(f"{where}: cannot stage files: {e.strerror or e}") from None
    try:
        for rel, src in entries:
            target = tmp / rel
            if not target.resolve().is_relative_to(tmp.resolve()):
                raise ConfigError(f"{where}: {rel} would be staged outside the staging directory")
            try:
                _place(src, target)
            except OSError as e:
                raise ConfigError(f"{where}: cannot stage {rel}: {e.strerror or e}") from None
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the tree is read by the guest's host only, but is no secret
        try:
            os.rename(tmp, root)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not root.is_dir():
                raise ConfigError(f"{where}: cannot stage files: {e.strerror or e}") from None
            # Another process renamed the same version into place first: theirs is identical, use it.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when our rename succeeded
    return root
