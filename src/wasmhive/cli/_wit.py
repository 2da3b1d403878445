"""`wasmhive wit`: a component's WIT world (imports and exports), as WIT text or JSON."""

from __future__ import annotations

import click

from ..errors import ConfigError
from ..runtime import Runtime
from ._terminal import json_text, printable


@click.command("wit")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the world as JSON instead of WIT text.")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk compile cache.")
def wit_cmd(file: str, as_json: bool, no_cache: bool) -> None:
    """Print the WIT world of component FILE: what it imports and exports, with every type."""
    from ..component._wit import world_of

    with Runtime(cache=False if no_cache else None) as rt:
        compiled = rt.load(file)
        if compiled.kind != "component":
            raise ConfigError(f"{file} is a core module, not a component: try `wasmhive inspect`")
        world = world_of(compiled.component, rt.engine)
    if as_json:
        click.echo(json_text(world.to_json(), indent=2))
    else:
        click.echo(printable(world.to_wit(), keep_newlines=True), nl=False)
