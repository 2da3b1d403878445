"""`wasmhive build` (run each component's build command) and `wasmhive watch` (rebuild + restart)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click

from ..app import load_manifest
from ..app._build import build_app, snapshot, watched_files
from ..errors import BuildError, WasmhiveError
from . import main
from ._common import console, err_console


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
@click.option("-u", "--up", "up_", is_flag=True, help="Serve the app after a successful build (`wasmhive up`).")
@click.option("--listen", default=None, help="With --up: address to listen on (default 127.0.0.1:3000).")
@click.pass_context
def build(ctx: click.Context, path: str, components: tuple[str, ...], up_: bool, listen: str | None) -> None:
    """Run each component's build command (PATH: app dir or manifest), showing progress.

    A failing build stops with the tool's own output.
    """
    _build(path, components)
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
