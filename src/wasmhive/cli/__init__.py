"""The `wasmhive` command line: thin commands over the library layers."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ._common import WasmhiveGroup

__all__ = ["main"]

# One module per command (or command group); each registers itself on `main` when imported.
COMMAND_MODULES = [
    "run",
    "up",
    "inspect",
    "bench",
    "new",
    "build",
    "contract",
    "call",
    "wit",
    "bindgen",
]


@click.group(cls=WasmhiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}._{_name}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
