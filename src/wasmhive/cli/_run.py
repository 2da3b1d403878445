"""`wasmhive run`: run a WASI command (core module or component) in a sandbox, like `wasmtime run`."""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError, GuestTrap, LimitExceeded
from ..runtime import Limits, Preopen, Runtime, Sandbox, parse_duration, parse_size
from . import _common, main
from ._common import fail


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key:
        raise ConfigError(f"--env needs NAME=VALUE or NAME, got {text!r}")
    if not sep:
        # `--env NAME` passes the host's value through, explicitly.
        import os

        if key not in os.environ:
            raise ConfigError(f"--env {key}: not set in the host environment")
        value = os.environ[key]
    return key, value


@main.command(context_settings={"allow_interspersed_args": False})
@click.argument("file", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST][:ro]",
              help="Preopen a host directory (read-write, or read-only with :ro).")
@click.option("--env", "envs", multiple=True, metavar="NAME[=VALUE]", help="Set a guest environment variable.")
@click.option("--memory", default="128MiB", show_default=True, help="Linear memory limit per memory.")
@click.option("--timeout", default=None, help="Wall-clock limit, e.g. 5s or 500ms (default: none).")
@click.option("--fuel", type=int, default=None, help="Instruction budget (enables fuel metering).")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk compile cache.")
def run(file: str, args: tuple[str, ...], dirs: tuple[str, ...], envs: tuple[str, ...], memory: str,
        timeout: str | None, fuel: int | None, no_cache: bool) -> None:
    """Run FILE (a WASI command: .wasm or .wat, core module or component) with ARGS.

    The guest gets nothing it is not given: no files unless --dir, no environment unless --env.
    Its exit code becomes ours; a trap prints the trap and a short backtrace.
    """
    sandbox = Sandbox(
        args=[file, *args],
        env=dict(_env_pair(e) for e in envs),
        dirs=[Preopen.parse(d) for d in dirs],
        stdin="inherit", stdout="inherit", stderr="inherit",
    )
    limits = Limits(memory=parse_size(memory), timeout=parse_duration(timeout) if timeout else None, fuel=fuel)
    sys.stdout.flush()
    with Runtime(fuel=fuel is not None, cache=False if no_cache else None) as rt:
        try:
            result = rt.run(file, sandbox=sandbox, limits=limits)
        except GuestTrap as e:
            # rich is imported only now: a guest that exits normally never pays for it (~60 ms).
            err_console = _common.err_console
            err_console.print(f"[bold red]error:[/] guest trapped: {e}", markup=True, highlight=False)
            if e.backtrace:
                err_console.print("wasm backtrace:\n" + e.short_backtrace(), markup=False, highlight=False)
            raise SystemExit(e.exit_code) from None
        except LimitExceeded as e:
            fail(str(e), e.exit_code)
    raise SystemExit(result.exit_code)
