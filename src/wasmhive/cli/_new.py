"""`wasmhive new`: create a project from a template (`--list` shows them)."""

from __future__ import annotations

from pathlib import Path

import click

from ..app._templates import generate, list_templates
from ..errors import ConfigError
from ._common import command_name, console


@click.command()
@click.argument("template", required=False)
@click.argument("name", required=False)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory to create (default: ./NAME).")
@click.option("--list", "list_", is_flag=True, help="List the available templates.")
@click.option("--force", is_flag=True, help="Write into a non-empty directory.")
def new(template: str | None, name: str | None, output: Path | None, list_: bool, force: bool) -> None:
    """Create project NAME from TEMPLATE (e.g. `wasmhive new http-python hello`)."""
    if list_ or template is None:
        from rich.table import Table

        table = Table("template", "description", box=None, header_style="bold")
        for t in list_templates():
            table.add_row(t.name, t.description)
        console.print(table)
        if template is None and not list_:
            console.print("\nusage: wasmhive new TEMPLATE NAME")
        return
    if name is None:
        raise ConfigError("wasmhive new TEMPLATE NAME: give the project a name")
    dest = output or Path(name)
    generate(template, name, dest, force=force)
    console.print(f"[green]created[/] {dest} from template {template}", markup=True)
    console.print(f"next:  cd {dest} && {command_name()} build --up", markup=False)
