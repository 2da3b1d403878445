"""`wasmhive bindgen`: typed Python stubs for a component's exports."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..runtime import Runtime


@click.command("bindgen")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False),
              help="Package directory to write (__init__.py, __init__.pyi, py.typed).")
@click.option("--name", default=None, help="Class name stem for the stubs (default: the file name).")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk compile cache.")
def bindgen(file: str, out: str, name: str | None, no_cache: bool) -> None:
    """Write typed Python stubs for component FILE's exports into package OUT.

    \b
    Then, with OUT importable:
      from calc import load
      calc = load(runtime)          # mypy knows calc.exports.add(a: int, b: int) -> int
    """
    from ..component._bindgen import write_package
    from ..component._component import signature_of

    with Runtime(cache=False if no_cache else None) as rt:
        compiled = rt.load(file)
        if compiled.kind != "component":
            raise ConfigError(f"{file} is a core module, not a component")
        sig = signature_of(compiled, rt.engine)
    stem = name or Path(file).stem
    paths = write_package(sig, stem, Path(out), Path(file))
    for p in paths:
        click.echo(str(p))
