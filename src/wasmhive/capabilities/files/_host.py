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

from wasmtime.component import ResultType

from ...appconfig import AppConfig, stage_files
from ...component._hostcall import define_func, define_table, wit
from ...wasi import BufferInput, current
from ...wasi._calls import Errors, observed, op_name
from ...wasi._deny import link_denied
from .._factor import InstanceState, StateOf

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


def _stat(p: Path) -> dict[str, Any]:
    """A `descriptor-stat` record."""
    st = p.stat()
    return {"type": _kind(p), "link-count": st.st_nlink, "size": st.st_size, "data-access-timestamp": None,
            "data-modification-timestamp": _dt(st.st_mtime_ns), "status-change-timestamp": None}


def _dt(ns: int) -> dict[str, int]:
    """A `wasi:clocks/wall-clock` `datetime` record."""
    seconds, nanoseconds = divmod(ns, 1_000_000_000)
    return {"seconds": seconds, "nanoseconds": nanoseconds}


def _hash(p: Path) -> dict[str, int]:
    """A `metadata-hash-value` record: stable while the file's identity, time and size are."""
    st = p.stat()
    digest = hashlib.sha256(f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}".encode()).digest()
    return {"lower": int.from_bytes(digest[:8], "little"), "upper": int.from_bytes(digest[8:16], "little")}


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
        imports = list(imports)
        # Resource types of the interfaces defined before (wasi:io ...), so `use`d ones are not redefined.
        seen = [item.ty for name, ity in imports if name.startswith(("wasi:io/", "wasi:clocks/"))
                for item in ity.exports(engine).values() if type(item.ty).__name__ == "ResourceType"]
        host = _FilesHost(self.name, state_of)
        for name, ity in imports:
            base = name.partition("@")[0]
            if base not in ("wasi:filesystem/types", "wasi:filesystem/preopens"):
                continue
            funcs = {n: x.ty for n, x in ity.exports(engine).items() if type(x.ty).__name__ == "FuncType"}
            with root.add_instance(name) as inst:
                link_denied(inst, name, ity, engine, seen)  # everything, answering "denied" ...
                # ... then what the component's files allow, over the functions this version has.
                table = _Preopens(host) if base == "wasi:filesystem/preopens" else _Descriptors(host)
                define_table(inst, table, _definer(funcs))


def _definer(funcs: Mapping[str, Any]) -> Callable[[Any, str, Callable[..., Any]], None]:
    """Defines a table's function when the import has it (typed convention).

    A function returning `result<_, error-code>` answers `FsError` as `err(<its error-code>)` and any
    other `OSError` as `err(io)`; for one that does not (`is-same-object`), they trap.
    """
    def define(inst: Any, fname: str, fn: Callable[..., Any]) -> None:
        if fname in funcs:
            errors = _FS_ERRORS if isinstance(funcs[fname].result, ResultType) else {}
            define_func(inst, fname, observed("files", op_name(fname), fn, errors))
    return define


def _io_error(e: OSError) -> str:
    log.debug("files: %s", e)
    return "io"


_FS_ERRORS: Errors = {FsError: str, OSError: _io_error}


class _FilesHost:
    """What the filesystem tables share: the calling instance's files and host resource table."""

    def __init__(self, name: str, state_of: StateOf) -> None:
        self.files = InstanceState[FilesInstance](name, state_of)

    def table(self) -> Any:
        return current().table

    def desc(self, rep: int) -> Descriptor:
        d = self.table().get(rep)
        if not isinstance(d, Descriptor):
            raise FsError("bad-descriptor")
        return d


class _Preopens:
    """`wasi:filesystem/preopens`: the component's file root, preopened at `/`."""

    def __init__(self, host: _FilesHost) -> None:
        self.host = host

    @wit("get-directories")
    def get_directories(self) -> Any:
        r = self.host.files().root
        return [] if r is None else [(self.host.table().add(Descriptor(r, r)), "/")]


def _of_path(f: Callable[[Path], Any]) -> Callable[..., Any]:
    """A descriptor method answering `f(its path)`."""
    def method(self: _Descriptors, rep: int) -> Any:
        return f(self.desc(rep).path)
    return method


def _of_path_at(f: Callable[[Path], Any]) -> Callable[..., Any]:
    """A descriptor `...-at` method answering `f(path under it)`."""
    def method(self: _Descriptors, rep: int, path_flags: Any, path: str) -> Any:
        return f(self.desc(rep).resolve(path))
    return method


class _Descriptors:
    """`wasi:filesystem/types`, read-only: the `descriptor` and `directory-entry-stream` resources."""

    def __init__(self, host: _FilesHost) -> None:
        self.host = host
        self.desc = host.desc

    get_type = wit("[method]descriptor.get-type")(_of_path(_kind))

    @wit("[method]descriptor.get-flags")
    def get_flags(self, rep: int) -> set[str]:
        self.desc(rep)
        return {"read"}

    stat = wit("[method]descriptor.stat")(_of_path(_stat))
    stat_at = wit("[method]descriptor.stat-at")(_of_path_at(_stat))

    @wit("[method]descriptor.open-at")
    def open_at(self, rep: int, path_flags: Any, path: str, open_flags: set[str], flags: set[str]) -> int:
        d = self.desc(rep)
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
        return int(self.host.table().add(Descriptor(target, d.root)))

    @wit("[method]descriptor.read-via-stream")
    def read_via_stream(self, rep: int, offset: int) -> int:
        d = self.desc(rep)
        if d.is_dir:
            raise FsError("is-directory")
        return int(self.host.table().add(BufferInput(d.path.read_bytes()[offset:])))

    @wit("[method]descriptor.read")
    def read(self, rep: int, length: int, offset: int) -> tuple[bytes, bool]:
        d = self.desc(rep)
        if d.is_dir:
            raise FsError("is-directory")
        with d.path.open("rb") as f:
            f.seek(offset)
            data = f.read(min(length, _MAX_READ))
            end = f.tell() >= os.fstat(f.fileno()).st_size
        return data, end

    @wit("[method]descriptor.read-directory")
    def read_directory(self, rep: int) -> int:
        d = self.desc(rep)
        if not d.is_dir:
            raise FsError("not-directory")
        return int(self.host.table().add(DirEntries(d.path)))

    @wit("[method]directory-entry-stream.read-directory-entry")
    def read_directory_entry(self, rep: int) -> dict[str, str] | None:
        entries = self.host.table().get(rep)
        if not isinstance(entries, DirEntries):
            raise FsError("bad-descriptor")
        if not entries.entries:
            return None
        p = entries.entries.pop(0)
        return {"type": _kind(p), "name": p.name}

    metadata_hash = wit("[method]descriptor.metadata-hash")(_of_path(_hash))
    metadata_hash_at = wit("[method]descriptor.metadata-hash-at")(_of_path_at(_hash))

    def _accept(self, rep: int, *args: Any) -> None:
        """Nothing to do on a read-only tree: only the descriptor is checked."""
        self.desc(rep)

    advise = wit("[method]descriptor.advise")(_accept)
    sync_data = wit("[method]descriptor.sync-data")(_accept)
    sync = wit("[method]descriptor.sync")(_accept)

    @wit("[method]descriptor.is-same-object")
    def is_same_object(self, a: int, b: int) -> bool:
        return self.desc(a).path == self.desc(b).path
