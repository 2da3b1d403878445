"""The `wasmhive` command line: thin commands over the library layers."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ._common import WasmhiveGroup

__all__ = ["main"]

# Command name -> the module (`cli/_<module>.py`) that registers it on `main` when imported.
# Modules are imported only when their command runs (or for --help): start-up stays small.
COMMANDS = {
    "run": "run",
    "up": "up",
    "inspect": "inspect",
    "bench": "bench",
    "new": "new",
    "build": "build",
    "watch": "build",
    "contract": "contract",
    "call": "call",
    "wit": "wit",
    "bindgen": "bindgen",
}
COMMAND_MODULES = sorted(set(COMMANDS.values()))


class _LazyGroup(WasmhiveGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"{__name__}._{module}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="wasmhive")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """wasmhive: run WebAssembly apps, components and contracts from Python.

    \b
    Common commands:
      wasmhive run app.wasm [ARGS...]    run a WASI command in a sandbox
      wasmhive inspect app.wasm          show what a module or component contains
    """
    from ._common import setup_logging

    setup_logging(verbose)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
