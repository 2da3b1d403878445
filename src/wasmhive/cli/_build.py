"""`wasmhive build` (run each component's build command) and `wasmhive watch` (rebuild + restart)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ..app import ComponentConfig, load_manifest
from ..app._build import BuildResult, build_app, snapshot, watched_files
from ..app._buildstamp import command_text
from ..errors import BuildError, ConfigError, WasmhiveError
from ._common import console, err_console, fail
from ._up import given_up_options, run_up, up_argv, up_options


def _build(path: str, components: tuple[str, ...], *, force: bool = False, verbose: bool = False) -> None:
    """Build what changed (everything with `force`), one line per component; `verbose` streams the output."""
    app = load_manifest(path)
    touched = 0
    with console.status("building...") as status:

        def start(comp: ComponentConfig, why: str) -> None:
            status.update(f"building [bold]{escape(comp.id)}[/] ({escape(why)})")
            if verbose:
                console.print(f"[bold]building {escape(comp.id)}[/] ({escape(why)}): {escape(command_text(comp))}",
                              markup=True, soft_wrap=True)

        def done(result: BuildResult) -> None:
            nonlocal touched
            touched += 1
            console.print(f"[green]built[/] {escape(result.component)} in {result.seconds:.1f}s "
                          f"({escape(result.reason)})", markup=True)

        def skip(comp: ComponentConfig) -> None:
            nonlocal touched
            touched += 1
            console.print(f"{escape(comp.id)} is up to date", markup=True)

        def output(line: str) -> None:
            console.out(line, highlight=False)

        build_app(app, components or None, force=force, on_start=start, on_done=done, on_skip=skip,
                  on_output=output if verbose else None)
    if not touched:
        console.print("nothing to build (no component has a [component.<id>.build] command)", markup=False)


def _failed(e: BuildError, *, streamed: bool) -> None:
    """The tool's whole output (unless it was just streamed), then one line saying what failed."""
    from ..app.toolchains import missing_tool

    lines = e.output.rstrip().splitlines()
    # A missing tool: the output's last line is wasmhive's note on what to install; it is the error line.
    last = lines.pop() if lines and (missing_tool(e.output, e.returncode) is not None or e.returncode is None) else None
    if lines and not streamed:
        click.echo("\n".join(lines), err=True)
    if last is not None:
        fail(escape(last), e.exit_code)
    status = f" (exit {e.returncode})" if e.returncode is not None else ""
    fail(escape(f"{e.tool} failed{status}; its output is above"), e.exit_code)


@click.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@click.option("-c", "--component-id", "components", multiple=True, help="Build only this component (repeatable).")
@click.option("-f", "--force", is_flag=True, help="Rebuild even the components that are up to date.")
@click.option("-v", "--verbose", is_flag=True, help="Show the build commands' output as they run.")
@click.option("-u", "--up", "up_", is_flag=True, help="Serve the app after a successful build (`wasmhive up`, "
              "with every `up` option below).")
@up_options
@click.pass_context
def build(ctx: click.Context, /, path: str, components: tuple[str, ...], force: bool, verbose: bool, up_: bool,
          **up: Any) -> None:
    """Run each component's build command (PATH: app dir or manifest), showing progress.

    A component whose inputs (its `build.watch` files, else the files under its workdir) and output
    are unchanged since its last build is up to date and not rebuilt. A failing build prints the
    tool's whole output. Commands see your PATH first, then wasmhive's own tools.
    """
    given = given_up_options(ctx)
    if given and not up_:
        raise ConfigError(f"{given[0]} is an `up` option: add --up to serve after building")
    # `wasmhive -v build` asks for the same as `wasmhive build -v`.
    verbose = verbose or bool(ctx.find_root().params.get("verbose"))
    try:
        _build(path, components, force=force, verbose=verbose)
    except BuildError as e:
        _failed(e, streamed=verbose)
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


@click.command()
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
                err_console.print(f"[bold red]build failed:[/] {escape(str(e))}", markup=True, highlight=False)
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
