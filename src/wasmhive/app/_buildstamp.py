"""Build stamps: what a component's last successful build was made from, so an unchanged one is not rebuilt.

A component's inputs are the files its `build.watch` globs match (relative to the build `workdir`),
or, without `watch`, every file under the workdir except build outputs and tool state: hidden
directories (`.git`, `.wasmhive`, `.venv`, ...), `node_modules`, `__pycache__`, `zig-cache`, `target`,
the manifest, and every built component's `source`. The stamp
(`<app>/.wasmhive/build/<id>.json`) records the command, each input's SHA-256 and the output's
SHA-256. A build is needed when the stamp is missing or unreadable, the command changed, an input was
added, removed or changed, or the output is missing or not the file the build wrote. Hashes are
reused while a file's size and mtime are unchanged, so checking an unchanged app reads no file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from ..appconfig import AppConfig, ComponentConfig

__all__ = ["BuildStamps", "FileState", "Inputs", "command_text"]

log = logging.getLogger("wasmhive.build")
_VERSION = 1
_SKIP_DIRS = {"node_modules", "__pycache__", "zig-cache", "target"}


@dataclass(frozen=True)
class FileState:
    """A file's size, mtime (ns) and SHA-256 when it was last looked at."""

    size: int
    mtime_ns: int
    sha256: str


Inputs = dict[str, FileState]  # input path relative to the workdir (posix) -> its state


def _state(path: Path, known: FileState | None) -> FileState | None:
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block the read: not a build input
        return None
    if known is not None and (known.size, known.mtime_ns) == (st.st_size, st.st_mtime_ns):
        return known
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return FileState(st.st_size, st.st_mtime_ns, h.hexdigest())


def _skip_dir(name: str) -> bool:
    return (name.startswith(".") and name not in (".", "..")) or name in _SKIP_DIRS


def command_text(comp: ComponentConfig) -> str:
    """`comp`'s build command as one shell-quoted line (as shown to users and kept in the stamp)."""
    cmd = comp.build.command if comp.build is not None else ""
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


class BuildStamps:
    """The stamps of one app's components (in the app's state dir)."""

    def __init__(self, app: AppConfig) -> None:
        self.app = app
        self.dir = app.state_dir / "build"
        # Outputs of builds are never inputs of a build (a component that consumes another's output
        # names it in `watch`).
        self._outputs = {c.source.resolve() for c in app.components.values() if c.build is not None}

    def path(self, comp: ComponentConfig) -> Path:
        """Where `comp`'s stamp lives."""
        return self.dir / f"{comp.id}.json"

    def _files(self, comp: ComponentConfig) -> list[Path]:
        assert comp.build is not None
        workdir = comp.build.workdir
        if comp.build.watch:
            found: set[Path] = set()
            for pattern in comp.build.watch:
                found.update(p for p in workdir.glob(pattern)
                             if p.is_file() and not any(map(_skip_dir, p.relative_to(workdir).parts[:-1])))
            return sorted(p for p in found if p.resolve() not in self._outputs)
        skip_files = {self.app.manifest_path.resolve(), *self._outputs}
        out = []
        for root, dirs, files in os.walk(workdir):
            dirs[:] = sorted(d for d in dirs if not _skip_dir(d))
            for name in sorted(files):
                p = Path(root) / name
                if not name.endswith(".pyc") and p.resolve() not in skip_files:
                    out.append(p)
        return out

    def inputs(self, comp: ComponentConfig, known: Inputs | None = None) -> Inputs:
        """The current state of `comp`'s inputs (hashes reused from `known` for unchanged files)."""
        assert comp.build is not None
        known = known or {}
        out: Inputs = {}
        for p in self._files(comp):
            rel = Path(os.path.relpath(p, comp.build.workdir)).as_posix()
            state = _state(p, known.get(rel))
            if state is not None:
                out[rel] = state
        return out

    def load(self, comp: ComponentConfig) -> dict[str, object] | None:
        """The stamp as written, or None (missing, unreadable, or from another stamp format)."""
        try:
            data = json.loads(self.path(comp).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("version") == _VERSION else None

    def check(self, comp: ComponentConfig) -> tuple[str | None, Inputs]:
        """(why `comp` needs a build, or None when it is up to date; its inputs now)."""
        stamp = self.load(comp)
        known = _inputs_from(stamp.get("inputs")) if stamp else {}
        now = self.inputs(comp, known)
        if stamp is None:
            return "no earlier build recorded", now
        if stamp.get("command") != command_text(comp):
            return "the build command changed", now
        out = _file_from(stamp.get("output"))
        current = _state(comp.source, out)
        if current is None:
            return f"{comp.source.name} is missing", now
        if out is None or current.sha256 != out.sha256:
            return f"{comp.source.name} is not the file the last build wrote", now
        for rel in sorted(set(now) | set(known)):
            if rel not in known:
                return f"{rel} is new", now
            if rel not in now:
                return f"{rel} was removed", now
            if now[rel].sha256 != known[rel].sha256:
                return f"{rel} changed", now
        return None, now

    def record(self, comp: ComponentConfig, before: Inputs) -> None:
        """Write the stamp after a successful build made from `before` (the inputs when it started).

        Files the build itself created count as inputs in the state it left them. A file that changed
        while the build ran keeps its state from before, so the next check sees it changed and rebuilds.
        """
        inputs: Inputs = {}
        for rel, st in self.inputs(comp, before).items():
            old = before.get(rel)
            inputs[rel] = old if old is not None and old.sha256 != st.sha256 else st
        output = _state(comp.source, None)
        if output is None:
            return
        stamp = {"version": _VERSION, "component": comp.id, "command": command_text(comp),
                 "output": _file_json(output), "inputs": {k: _file_json(v) for k, v in sorted(inputs.items())}}
        p = self.path(comp)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
            os.replace(tmp, p)
        except OSError as e:  # the build succeeded; only the next `build` will not know it
            log.warning("cannot write build stamp %s: %s", p, e)
            tmp.unlink(missing_ok=True)

    def forget(self, comp: ComponentConfig) -> None:
        """Drop `comp`'s stamp (its last build failed: the output on disk is not from the inputs)."""
        self.path(comp).unlink(missing_ok=True)


def _file_json(st: FileState) -> list[object]:
    return [st.size, st.mtime_ns, st.sha256]


def _file_from(value: object) -> FileState | None:
    if (isinstance(value, list) and len(value) == 3 and isinstance(value[0], int) and isinstance(value[1], int)
            and isinstance(value[2], str)):
        return FileState(value[0], value[1], value[2])
    return None


def _inputs_from(value: object) -> Inputs:
    out: Inputs = {}
    if isinstance(value, dict):
        for k, v in value.items():
            st = _file_from(v)
            if isinstance(k, str) and st is not None:
                out[k] = st
    return out
