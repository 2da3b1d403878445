"""`wasmhive build` (run each component's build command) and `wasmhive watch` (rebuild + restart)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..app import load_manifest
from ..app._build import build_app, snapshot, watched_files
from ..errors import BuildError, ConfigError, WasmhiveError
from . import main
from ._common import console, err_console
from ._up import given_up_options, run_up, up_argv, up_options


def _build(path: str, components: tuple[str, ...]) -> None:
    app = load_manifest(path)
    built = 0
    with console.status("building...") as status:

        def start(comp: object) -> None:
            status.update(f"building [bold]{comp.id}[/] ({comp.build.command})")  # type: ignore[attr-defined]

        def done(result: object) -> None:
            nonlocal built
            built += 1
            console.print(f"[green]built[/] {result.component} in {result.seconds:.1f}s",  # type: ignore[attr-defined]
                          markup=True)

        build_app(app, components or None, on_start=start, on_done=done)
    if not built:
        console.print("nothing to build (no component has a [component.<id>.build] command)")


@main.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@click.option("-c", "--component-id", "components", multiple=True, help="Build only this component (repeatable).")
@click.option("-u", "--up", "up_", is_flag=True, help="Serve the app after a successful build (`wasmhive up`, "
              "with every `up` option below).")
@up_options
@click.pass_context
def build(ctx: click.Context, /, path: str, components: tuple[str, ...], up_: bool, **up: Any) -> None:
    """Run each component's build command (PATH: app dir or manifest), showing progress.

    A failing build stops with the tool's own output.
    """
    given = given_up_options(ctx)
    if given and not up_:
        raise ConfigError(f"{given[0]} is an `up` option: add --up to serve after building")
    _build(path, components)
    if up_:
        run_up(path, **up)


def _serve(path: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """`wasmhive up PATH ARGV...` as a child that dies with us (Linux: a parent-death signal, so that not
    even a SIGKILL of `watch` leaves it holding the port)."""
    cmd = [sys.executable, "-c", "from wasmhive.cli import main; main()", "up", path, *argv]
    return subprocess.Popen(cmd, preexec_fn=_die_with_parent())


def _die_with_parent() -> Callable[[], None] | None:
    """What the child runs between fork and exec: prctl(PR_SET_PDEATHSIG, SIGTERM). libc is looked up
    here, in the parent: the child should not load anything before exec."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, int(signal.SIGTERM))


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Stop(Exception):
    """SIGTERM (or SIGHUP) received by `watch`: unwind so that the server it started is stopped."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


@main.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@click.option("--interval", default=0.5, show_default=True, help="Seconds between checks for changes.")
@click.option("--no-up", is_flag=True, help="Only rebuild on change; do not serve.")
@up_options
@click.pass_context
def watch(ctx: click.Context, /, path: str, interval: float, no_up: bool, **up: Any) -> None:
    """Build, serve, and rebuild + restart whenever a watched file changes.

    Watched: each component's `build.watch` globs, its `files`, and the manifest. Every `up` option is
    passed to the server. SIGINT (Ctrl-C) and SIGTERM stop the server too.
    """
    import signal

    given = given_up_options(ctx)
    if given and no_up:
        raise ConfigError(f"{given[0]} is an `up` option; --no-up serves nothing")
    argv = up_argv(ctx)
    server: subprocess.Popen[bytes] | None = None
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            app = load_manifest(path)
            before = snapshot(watched_files(app))
            try:
                _build(path, ())
            except (BuildError, WasmhiveError) as e:
                err_console.print(f"[bold red]build failed:[/] {e}", markup=True, highlight=False)
            else:
                _stop(server)
                server = None if no_up else _serve(path, argv)
            console.print(f"watching {len(before)} files for changes (Ctrl-C to stop)")
            while snapshot(watched_files(load_manifest(Path(path)))) == before:
                if server is not None and server.poll() is not None:
                    # `up` failed (its error is on the terminal): wait for a change instead of a restart loop.
                    server = None
                time.sleep(interval)
            time.sleep(0.2)  # let editors finish writing
            console.print("[yellow]change detected[/]: rebuilding", markup=True)
    except _Stop:
        pass
    finally:
        _stop(server)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
