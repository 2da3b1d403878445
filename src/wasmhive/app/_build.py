"""Build orchestration: run each component's `[component.<id>.build]` command, and watch for changes."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError, ConfigError
from ._model import AppConfig, ComponentConfig

__all__ = ["BuildResult", "build_app", "build_component", "build_env", "snapshot", "watched_files"]

_SKIP = {".git", ".wasmhive", "node_modules", "__pycache__", ".zig-cache", "zig-cache"}


@dataclass
class BuildResult:
    """One component's build: its command, how long it took, and what it printed."""

    component: str
    command: str
    seconds: float
    output: str


def build_env() -> dict[str, str]:
    """The environment build commands run in: this Python's scripts first on PATH (so `python`,
    `componentize-py`, `wasm-tools` are the project's), and zig's cache shared with wasmhive's."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    if "ZIG_GLOBAL_CACHE_DIR" not in env:
        from .toolchains import toolchain_cache_dir

        env["ZIG_GLOBAL_CACHE_DIR"] = str(toolchain_cache_dir() / "zig")
    env.setdefault("ZIG_LOCAL_CACHE_DIR", env["ZIG_GLOBAL_CACHE_DIR"])
    return env


def build_component(comp: ComponentConfig, *, env: dict[str, str] | None = None) -> BuildResult | None:
    """Run `comp`'s build command in its workdir; None when it has none. Fails with the tool's output."""
    if comp.build is None:
        return None
    cmd = comp.build.command
    shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
    if not comp.build.workdir.is_dir():
        raise ConfigError(f"component `{comp.id}`: build workdir {comp.build.workdir} does not exist")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, shell=isinstance(cmd, str), cwd=comp.build.workdir, env=env or build_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                              check=False)
    except OSError as e:
        raise BuildError(f"build of `{comp.id}`", [shown], str(e)) from None
    if proc.returncode != 0:
        raise BuildError(f"build of `{comp.id}` ({shown})", [shown], proc.stdout, returncode=proc.returncode)
    if not comp.source.exists():
        raise BuildError(f"build of `{comp.id}`", [shown],
                         f"{proc.stdout}\nthe build succeeded but did not produce {comp.source}")
    return BuildResult(comp.id, shown, time.perf_counter() - t0, proc.stdout)


def build_app(app: AppConfig, components: Iterable[str] | None = None, *,
              on_start: Callable[[ComponentConfig], None] | None = None,
              on_done: Callable[[BuildResult], None] | None = None) -> list[BuildResult]:
    """Build the app's components (all, or those named) in manifest order; stop at the first failure."""
    wanted = list(components) if components is not None else None
    for cid in wanted or []:
        if cid not in app.components:
            raise ConfigError(f"no component `{cid}` (components: {', '.join(app.components)})")
    env = build_env()
    results = []
    for comp in app.components.values():
        if comp.build is None or (wanted is not None and comp.id not in wanted):
            continue
        if on_start:
            on_start(comp)
        result = build_component(comp, env=env)
        if result is not None:
            results.append(result)
            if on_done:
                on_done(result)
    return results


def watched_files(app: AppConfig) -> list[Path]:
    """Files whose change means "rebuild and restart": each component's `build.watch` globs (relative to
    its workdir), its `files`, and the manifest itself."""
    paths = {app.manifest_path}
    for comp in app.components.values():
        if comp.build is not None:
            for pattern in comp.build.watch:
                paths.update(p for p in comp.build.workdir.glob(pattern)
                             if p.is_file() and not _SKIP.intersection(p.parts))
        for mount in comp.files:
            if mount.destination is None:
                paths.update(p for p in app.dir.glob(mount.source) if p.is_file())
            else:
                paths.update(p for p in (app.dir / mount.source).rglob("*") if p.is_file())
    return sorted(paths)


def snapshot(paths: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    """(mtime, size) of each path, to detect changes by polling (portable, no extra dependency)."""
    out = {}
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        out[p] = (st.st_mtime_ns, st.st_size)
    return out
