"""The `wasmhive` command line: thin commands over the library layers."""

from __future__ import annotations

import importlib
import sys

import click

from .._version import __version__
from ._common import WasmhiveGroup

__all__ = ["main"]

# Command name -> (the module `cli/_<module>.py` that defines it (a click command of that name), its one-line
# summary for `wasmhive --help`). Modules are imported only when their command runs (or for that command's
# own --help), so `wasmhive --help` and start-up import neither wasmtime nor rich.
COMMANDS = {
    "run": ("run", "Run a WASI command (core module or component) in a sandbox."),
    "up": ("up", "Serve a wasi:http component or an app over HTTP."),
    "inspect": ("inspect", "Show what a module or component contains."),
    "bench": ("bench", "Benchmarks: compute, startup/isolation, http, browser."),
    "new": ("new", "Create a project from a template (--list shows them)."),
    "build": ("build", "Run each component's build command."),
    "watch": ("build", "Build, serve, and rebuild + restart on every change."),
    "contract": ("contract", "Run Internet Computer canisters locally."),
    "call": ("call", "Call a function exported by a component."),
    "wit": ("wit", "Print the WIT world of a component."),
    "bindgen": ("bindgen", "Write typed Python stubs for a component's exports."),
    "measure": ("tee", "Print a module's measurement (SHA-256) and signer."),
    "sign": ("tee", "Sign a module's measurement (a signer manifest for sealing)."),
    "attest": ("tee", "Make or verify attestation evidence; print the platform key."),
}
COMMAND_MODULES = sorted({module for module, _ in COMMANDS.values()})


class _LazyGroup(WasmhiveGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is not None and cmd_name not in self.commands:
            module = importlib.import_module(f"{__name__}._{entry[0]}")
            self.add_command(next(c for c in vars(module).values()
                                  if isinstance(c, click.Command) and c.name == cmd_name))
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's default asks every command for its help, which would import every command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


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
