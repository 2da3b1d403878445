"""Shared CLI plumbing: error translation at the boundary, logging, the console."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from rich.console import Console

from ..errors import WasmhiveError

__all__ = ["WasmhiveGroup", "console", "err_console", "fail", "setup_logging"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def fail(message: str, code: int = 1) -> None:
    """Print `error: message` on stderr and exit with `code` (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise SystemExit(code)


class WasmhiveGroup(click.Group):
    """A click group whose commands turn foreseeable errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WasmhiveError as e:
            fail(_escape(str(e)), e.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)


def _escape(text: str) -> str:
    """Error messages quote names from modules and manifests: no markup, no control codes."""
    from rich.markup import escape

    from ._terminal import printable

    return escape(printable(text))
