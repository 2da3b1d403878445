"""Build orchestration: run each component's `[component.<id>.build]` command when its inputs changed,
and watch for changes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..appconfig import AppConfig, ComponentConfig
from ..errors import BuildError, ConfigError
from ._buildstamp import BuildStamps, command_text

__all__ = ["BuildResult", "build_app", "build_component", "build_env", "snapshot", "watched_files"]

_SKIP = {".git", ".wasmhive", "node_modules", "__pycache__", ".zig-cache", "zig-cache"}


@dataclass
class BuildResult:
    """One component's build: its command, why it ran, how long it took, and what it printed."""

    component: str
    command: str
    seconds: float
    output: str
    reason: str = ""


def build_env() -> dict[str, str]:
    """The environment build commands run in.

    The user's PATH comes first, so an app's own tools win (a spin-sdk app's componentize-py, a
    `python` from its virtualenv); the bin directory of the Python running wasmhive comes after it,
    so the toolchains extra (`componentize-py`, `wasm-tools`) is found when the user has none.
    `$WASMHIVE_PYTHON` names that Python, for commands that need wasmhive's own modules or ziglang
    whatever `python` is on PATH. zig's cache is shared with wasmhive's.
    """
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    path = env.get("PATH", os.defpath)
    if bindir not in path.split(os.pathsep):
        path = path + os.pathsep + bindir if path else bindir
    env["PATH"] = path
    env["WASMHIVE_PYTHON"] = sys.executable
    if "ZIG_GLOBAL_CACHE_DIR" not in env:
        from ._toolcache import toolchain_cache_dir

        env["ZIG_GLOBAL_CACHE_DIR"] = str(toolchain_cache_dir() / "zig")
    env.setdefault("ZIG_LOCAL_CACHE_DIR", env["ZIG_GLOBAL_CACHE_DIR"])
    return env


def _missing(comp: ComponentConfig, tool: str, output: str, returncode: int | None, env: dict[str, str]) -> BuildError:
    """The build's failure when a tool was not found: its output, then one line on what to install."""
    import importlib.util
    import shutil

    from .toolchains import install_hint

    bindir = str(Path(sys.executable).parent)
    if f"No module named {tool}" in output:
        python = shutil.which("python", path=env.get("PATH")) or "python"
        note = (f"the `python` on PATH ({python}) has no `{tool}` module; wasmhive's Python has it: "
                f"write \"$WASMHIVE_PYTHON\" -m {tool} in the build command"
                if importlib.util.find_spec(tool) is not None else
                f"the Python that ran `-m {tool}` has no `{tool}` module: "
                f"{install_hint(tool, default='install the package that provides it into that Python')}")
    else:
        note = f"`{tool}` was not found on PATH (yours, then wasmhive's {bindir}): {install_hint(tool)}"
    return BuildError(f"build of `{comp.id}` ({command_text(comp)})", [command_text(comp)],
                      f"{output.rstrip()}\n{note}" if output.strip() else note, returncode=returncode)


def build_component(comp: ComponentConfig, *, env: dict[str, str] | None = None,
                    on_output: Callable[[str], None] | None = None) -> BuildResult | None:
    """Run `comp`'s build command in its workdir; None when it has none.

    The command's stdout and stderr are read as one stream; `on_output` gets each line as it comes.
    A failure raises `BuildError` with the whole output (plus what to install when a tool was missing).
    """
    if comp.build is None:
        return None
    cmd = comp.build.command
    shown = command_text(comp)
    env = env or build_env()
    if not comp.build.workdir.is_dir():
        raise ConfigError(f"component `{comp.id}`: build workdir {comp.build.workdir} does not exist")
    t0 = time.perf_counter()
    lines: list[str] = []
    try:
        # Its own session, so the whole tree (a shell and what it starts) is stopped if we are.
        proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), cwd=comp.build.workdir, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", bufsize=1, start_new_session=True)
    except FileNotFoundError:
        raise _missing(comp, Path(cmd[0]).name, "", None, env) from None
    except OSError as e:
        raise BuildError(f"build of `{comp.id}`", [shown], str(e)) from None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_output is not None:
                on_output(line.rstrip("\n"))
        proc.wait()
    finally:
        if proc.poll() is None:
            _stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()
    output = "".join(lines)
    if proc.returncode != 0:
        from .toolchains import missing_tool

        tool = missing_tool(output, proc.returncode)
        if tool is not None:
            raise _missing(comp, tool, output, proc.returncode, env)
        raise BuildError(f"build of `{comp.id}` ({shown})", [shown], output, returncode=proc.returncode)
    if not comp.source.exists():
        raise BuildError(f"build of `{comp.id}`", [shown],
                         f"{output}\nthe build succeeded but did not produce {comp.source}")
    return BuildResult(comp.id, shown, time.perf_counter() - t0, output)


def _stop(proc: subprocess.Popen[str]) -> None:
    """End the build's process group (interrupted: Ctrl-C, or an error reading its output)."""
    import signal

    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def build_app(app: AppConfig, components: Iterable[str] | None = None, *, force: bool = False,
              on_start: Callable[[ComponentConfig, str], None] | None = None,
              on_done: Callable[[BuildResult], None] | None = None,
              on_skip: Callable[[ComponentConfig], None] | None = None,
              on_output: Callable[[str], None] | None = None) -> list[BuildResult]:
    """Build the app's components (all, or those named) in manifest order; stop at the first failure.

    A component whose inputs and output are as its last successful build left them is skipped
    (`on_skip`; see `_buildstamp`) unless `force`. `on_start` gets the component and why it is
    built ("app.py changed", "--force"); `on_output` gets each line the commands print.
    """
    wanted = list(components) if components is not None else None
    for cid in wanted or []:
        if cid not in app.components:
            raise ConfigError(f"no component `{cid}` (components: {', '.join(app.components)})")
    env = build_env()
    stamps = BuildStamps(app)
    results = []
    for comp in app.components.values():
        if comp.build is None or (wanted is not None and comp.id not in wanted):
            continue
        reason, inputs = stamps.check(comp)
        if reason is None and not force:
            if on_skip:
                on_skip(comp)
            continue
        why = reason or "--force"
        if on_start:
            on_start(comp, why)
        try:
            result = build_component(comp, env=env, on_output=on_output)
        except BaseException:
            stamps.forget(comp)
            raise
        if result is not None:
            result.reason = why
            stamps.record(comp, inputs)
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
