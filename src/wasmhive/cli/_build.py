"""`wasmhive build` (run each component's build command) and `wasmhive watch` (rebuild + restart)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click
from rich.markup import escape

from ..app import ComponentConfig, load_manifest
from ..app._build import BuildResult, build_app, snapshot, watched_files
from ..app._buildstamp import command_text
from ..errors import BuildError, WasmhiveError
from . import main
from ._common import console, err_console, fail


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


@main.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@click.option("-c", "--component-id", "components", multiple=True, help="Build only this component (repeatable).")
@click.option("-f", "--force", is_flag=True, help="Rebuild even the components that are up to date.")
@click.option("-v", "--verbose", is_flag=True, help="Show the build commands' output as they run.")
@click.option("-u", "--up", "up_", is_flag=True, help="Serve the app after a successful build (`wasmhive up`).")
@click.option("--listen", default=None, help="With --up: address to listen on (default 127.0.0.1:3000).")
@click.pass_context
def build(ctx: click.Context, path: str, components: tuple[str, ...], force: bool, verbose: bool, up_: bool,
          listen: str | None) -> None:
    """Run each component's build command (PATH: app dir or manifest), showing progress.

    A component whose inputs (its `build.watch` files, else the files under its workdir) and output
    are unchanged since its last build is up to date and not rebuilt. A failing build prints the
    tool's whole output. Commands see your PATH first, then wasmhive's own tools.
    """
    # `wasmhive -v build` asks for the same as `wasmhive build -v`.
    verbose = verbose or bool(ctx.find_root().params.get("verbose"))
    try:
        _build(path, components, force=force, verbose=verbose)
    except BuildError as e:
        _failed(e, streamed=verbose)
    if up_:
        up = main.get_command(ctx, "up")  # commands load lazily: ask the group, not `main.commands`
        if up is None:
            raise WasmhiveError("`wasmhive up` is not available in this installation")
        names = [p.name for p in up.params]
        kwargs: dict[str, object] = {names[0]: path} if names else {}
        if listen is not None and "listen" in names:
            kwargs["listen"] = listen
        ctx.invoke(up, **kwargs)


def _serve(path: str, listen: str | None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from wasmhive.cli import main; main()", "up", path]
    if listen:
        cmd += ["--listen", listen]
    return subprocess.Popen(cmd)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@main.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@click.option("--listen", default=None, help="Address to listen on (default 127.0.0.1:3000).")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between checks for changes.")
@click.option("--no-up", is_flag=True, help="Only rebuild on change; do not serve.")
def watch(path: str, listen: str | None, interval: float, no_up: bool) -> None:
    """Build, serve, and rebuild + restart whenever a watched file changes.

    Watched: each component's `build.watch` globs, its `files`, and the manifest.
    """
    server: subprocess.Popen[bytes] | None = None
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
                server = None if no_up else _serve(path, listen)
            console.print(f"watching {len(before)} files for changes (Ctrl-C to stop)")
            while snapshot(watched_files(load_manifest(Path(path)))) == before:
                time.sleep(interval)
            time.sleep(0.2)  # let editors finish writing
            console.print("[yellow]change detected[/]: rebuilding", markup=True)
    finally:
        _stop(server)
