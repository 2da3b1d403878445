"""Shared CLI plumbing: error translation at the boundary, logging, the console.

`console` and `err_console` (rich) are created on first use: importing rich costs ~60 ms, and
`wasmhive --help` or a usage error should not pay for it.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    err_console: Console

__all__ = ["USAGE_EXIT_CODE", "WasmhiveGroup", "command_name", "console", "err_console", "fail", "setup_logging"]

# A bad option, argument or command (click's UsageError) exits like ConfigError: 64 (EX_USAGE).
USAGE_EXIT_CODE = 64


class _UsageError(click.UsageError):
    """click's usage error (same message and usage line), with the exit code the README documents."""

    exit_code = USAGE_EXIT_CODE


def _usage(e: click.UsageError) -> click.UsageError:
    return e if isinstance(e, _UsageError) else _UsageError(e.format_message(), e.ctx)

_consoles: dict[str, Console] = {}


def __getattr__(name: str) -> Console:
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(stderr=name == "err_console", highlight=False)
    return _consoles[name]


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def command_name() -> str:
    """How to run this same `wasmhive` again in a hint: the bare name when PATH finds this one (an
    activated environment), else its absolute path (e.g. `.venv/bin/wasmhive` run without activating)."""
    import os
    import shutil

    invoked = sys.argv[0] if sys.argv and os.path.basename(sys.argv[0]) == "wasmhive" else None
    if invoked is None:
        return "wasmhive"
    on_path = shutil.which("wasmhive")
    if on_path is not None and os.path.realpath(on_path) == os.path.realpath(shutil.which(invoked) or invoked):
        return "wasmhive"
    return os.path.abspath(invoked)


def fail(message: str, code: int = 1) -> None:
    """Print `error: message` on stderr and exit with `code` (no traceback)."""
    __getattr__("err_console").print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise SystemExit(code)


class WasmhiveGroup(click.Group):
    """A click group whose commands turn foreseeable errors into one line and an exit code."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as e:
            raise _usage(e) from None

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import WasmhiveError  # imports wasmtime: only once a command runs

        try:
            return super().invoke(ctx)
        except click.UsageError as e:  # a subcommand's bad option or argument
            raise _usage(e) from None
        except WasmhiveError as e:
            fail(_escape(str(e)), e.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)


def _escape(text: str) -> str:
    """Error messages quote names from modules and manifests: no markup, no control codes."""
    from rich.markup import escape

    from ._terminal import printable

    return escape(printable(text))
