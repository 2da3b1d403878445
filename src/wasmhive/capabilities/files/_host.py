"""A component's `files`, seen read-only through `wasi:filesystem` (the only files it can see).

The WASI layer links `wasi:filesystem` deny-all; for a component that declares `files`, this
capability redefines `wasi:filesystem/{types,preopens}` (same import names, every 0.2.x version the
component imports) over its staged file tree (`appconfig/_files.py`), preopened at `/`. Reading, listing and
stat work; anything that would write answers `read-only` (or the deny-all `access`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from wasmtime.component import Record, Variant

from ...appconfig import AppConfig, stage_files
from .._factor import StateOf

__all__ = ["FilesFactor", "FilesInstance"]

log = logging.getLogger("wasmhive.capabilities.files")
_MAX_READ = 16 * 1024 * 1024


class FsError(Exception):
    """A `wasi:filesystem` error-code (its name is the message)."""


class Descriptor:
    """An open file or directory under the component's file root."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path, self.root = path, root
        self.is_dir = path.is_dir()

    def resolve(self, rel: str) -> Path:
        """`rel` under this directory, never outside the root (no `..` escape, symlinks checked)."""
        if not self.is_dir:
            raise FsError("not-directory")
        if rel.startswith("/"):
            raise FsError("not-permitted")
        target = (self.path / rel).resolve()
        if not target.is_relative_to(self.root):
            raise FsError("not-permitted")
        if not target.exists():
            raise FsError("no-entry")
        return target


class DirEntries:
    """A `directory-entry-stream`: the names of one directory, in order."""

    def __init__(self, path: Path) -> None:
        self.entries = sorted(path.iterdir())


class FilesInstance:
    """Per-instance: the root directory this component sees at `/`."""

    def __init__(self, root: Path | None) -> None:
        self.root = root


def _kind(p: Path) -> str:
    return "directory" if p.is_dir() else "regular-file" if p.is_file() else "unknown"


def _stat(p: Path) -> Record:
    st = p.stat()
    r = Record()
    for name, value in (("type", _kind(p)), ("link-count", st.st_nlink), ("size", st.st_size),
                        ("data-access-timestamp", None), ("data-modification-timestamp", _dt(st.st_mtime_ns)),
                        ("status-change-timestamp", None)):
        setattr(r, name, value)
    return r


def _dt(ns: int) -> Record:
    r = Record()
    r.seconds, r.nanoseconds = divmod(ns, 1_000_000_000)  # type: ignore[attr-defined]
    return r


def _hash(p: Path) -> Record:
    st = p.stat()
    digest = hashlib.sha256(f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}".encode()).digest()
    r = Record()
    r.lower, r.upper = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:16], "little")  # type: ignore[attr-defined]
    return r


class FilesFactor:
    """Read-only `files` for `wasi:http` components (WAGI modules get theirs through wasmtime's WASI)."""

    name = "files"
    interfaces: tuple[str, ...] = ()  # linked per component by `link_filesystem`, over the deny-all ones

    def link(self, root: Any, state_of: StateOf) -> None:
        """Nothing up front: the import names (and patch versions) come from each component."""

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> dict[str, Path | None]:
        """Stage every component's files now (a `files` entry that matches nothing fails start-up)."""
        return {comp.id: stage_files(app, comp) for comp in app.components.values()}

    def prepare(self, app_state: dict[str, Path | None], component_id: str) -> FilesInstance:
        return FilesInstance(app_state.get(component_id))

    def link_filesystem(self, root: Any, state_of: StateOf, imports: Iterable[tuple[str, Any]], engine: Any) -> None:
        """Redefine the component's `wasi:filesystem/types` and `/preopens` imports over its files."""
        from ...component._hostcall import define_func
        from ...component._shapes import is_tagged
        from ...wasi import HOST_RESOURCES, BufferInput, current
        from ...wasi._deny import link_denied

        imports = list(imports)
        # Resource types of the interfaces defined before (wasi:io ...), so `use`d ones are not redefined.
        seen = [item.ty for name, ity in imports if name.startswith(("wasi:io/", "wasi:clocks/"))
                for item in ity.exports(engine).values() if type(item.ty).__name__ == "ResourceType"]

        def files() -> FilesInstance:
            inst: FilesInstance = state_of().states[self.name]
            return inst

        def table() -> Any:
            return current().table

        def desc(rep: int) -> Descriptor:
            d = table().get(rep)
            if not isinstance(d, Descriptor):
                raise FsError("bad-descriptor")
            return d

        def link_one(name: str, ity: Any) -> None:
            base = name.partition("@")[0]
            funcs = {n: x.ty for n, x in ity.exports(engine).items() if type(x.ty).__name__ == "FuncType"}

            def result(fname: str, fn: Callable[..., Any]) -> Callable[..., Any]:
                """Wrap `fn` (returns the ok value, raises FsError) in this import's result convention."""
                rty = funcs[fname].result
                tagged = is_tagged(rty)

                def wrapper(*args: Any) -> Any:
                    try:
                        value = fn(*args)
                    except FsError as err:
                        return Variant("err", str(err)) if tagged else str(err)
                    except OSError as err:
                        log.debug("files: %s", err)
                        return Variant("err", "io") if tagged else "io"
                    return Variant("ok", value) if tagged else value
                return wrapper

            with root.add_instance(name) as inst:
                link_denied(inst, name, ity, engine, seen)  # everything, answering "denied" ...
                if base == "wasi:filesystem/preopens":
                    def get_directories() -> Any:
                        r = files().root
                        return [] if r is None else [(table().add(Descriptor(r, r)), "/")]
                    define_func(inst, "get-directories", get_directories, host_resources=HOST_RESOURCES)
                    return

                # ... then the read-only operations over the component's files.
                def get_type(rep: int) -> str:
                    return _kind(desc(rep).path)

                def get_flags(rep: int) -> set[str]:
                    desc(rep)
                    return {"read"}

                def stat(rep: int) -> Record:
                    return _stat(desc(rep).path)

                def stat_at(rep: int, path_flags: Any, path: str) -> Record:
                    return _stat(desc(rep).resolve(path))

                def open_at(rep: int, path_flags: Any, path: str, open_flags: set[str], flags: set[str]) -> int:
                    d = desc(rep)
                    if {"create", "truncate", "exclusive"} & set(open_flags) or {"write", "mutate-directory"} & set(flags):
                        try:
                            d.resolve(path)
                        except FsError as err:
                            if str(err) != "no-entry":
                                raise
                        raise FsError("read-only")
                    target = d.resolve(path)
                    if "directory" in open_flags and not target.is_dir():
                        raise FsError("not-directory")
                    return int(table().add(Descriptor(target, d.root)))

                def read_via_stream(rep: int, offset: int) -> int:
                    d = desc(rep)
                    if d.is_dir:
                        raise FsError("is-directory")
                    return int(table().add(BufferInput(d.path.read_bytes()[offset:])))

                def read(rep: int, length: int, offset: int) -> tuple[bytes, bool]:
                    d = desc(rep)
                    if d.is_dir:
                        raise FsError("is-directory")
                    with d.path.open("rb") as f:
                        f.seek(offset)
                        data = f.read(min(length, _MAX_READ))
                        end = f.tell() >= os.fstat(f.fileno()).st_size
                    return data, end

                def read_directory(rep: int) -> int:
                    d = desc(rep)
                    if not d.is_dir:
                        raise FsError("not-directory")
                    return int(table().add(DirEntries(d.path)))

                def read_directory_entry(rep: int) -> Record | None:
                    entries = table().get(rep)
                    if not isinstance(entries, DirEntries):
                        raise FsError("bad-descriptor")
                    if not entries.entries:
                        return None
                    p = entries.entries.pop(0)
                    r = Record()
                    r.type = _kind(p)  # type: ignore[attr-defined]
                    r.name = p.name  # type: ignore[attr-defined]
                    return r

                def metadata_hash(rep: int) -> Record:
                    return _hash(desc(rep).path)

                def metadata_hash_at(rep: int, path_flags: Any, path: str) -> Record:
                    return _hash(desc(rep).resolve(path))

                def ok_none(rep: int, *args: Any) -> None:
                    desc(rep)
                    return None

                ops: dict[str, Callable[..., Any]] = {
                    "[method]descriptor.get-type": get_type,
                    "[method]descriptor.get-flags": get_flags,
                    "[method]descriptor.stat": stat,
                    "[method]descriptor.stat-at": stat_at,
                    "[method]descriptor.open-at": open_at,
                    "[method]descriptor.read-via-stream": read_via_stream,
                    "[method]descriptor.read": read,
                    "[method]descriptor.read-directory": read_directory,
                    "[method]directory-entry-stream.read-directory-entry": read_directory_entry,
                    "[method]descriptor.metadata-hash": metadata_hash,
                    "[method]descriptor.metadata-hash-at": metadata_hash_at,
                    "[method]descriptor.advise": ok_none,
                    "[method]descriptor.sync-data": ok_none,
                    "[method]descriptor.sync": ok_none,
                }
                for fname, op in ops.items():
                    if fname in funcs:
                        define_func(inst, fname, result(fname, op), host_resources=HOST_RESOURCES)
                if "[method]descriptor.is-same-object" in funcs:
                    def same(a: int, b: int) -> bool:
                        return desc(a).path == desc(b).path
                    define_func(inst, "[method]descriptor.is-same-object", same, host_resources=HOST_RESOURCES)

        for name, ity in imports:
            if name.partition("@")[0] in ("wasi:filesystem/types", "wasi:filesystem/preopens"):
                link_one(name, ity)
