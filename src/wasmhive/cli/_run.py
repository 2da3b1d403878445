"""`wasmhive run`: run a WASI command (core module or component) in a sandbox, like `wasmtime run`."""

from __future__ import annotations

import gc
import sys
from typing import Any

import click

from ..errors import ConfigError, GuestTrap, LimitExceeded, WasmhiveError
from ..runtime import Limits, Preopen, Runtime, Sandbox, parse_duration, parse_size
from ..runtime._instance import out_of_memory
from . import _common


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


class _StderrTail:
    """The guest's stderr, passed straight through, keeping the last few KiB: a component that aborts
    after an allocation failed says so there (see `out_of_memory`)."""

    def __init__(self, keep: int = 8192) -> None:
        self.keep = keep
        self.tail = b""

    def write(self, data: bytes) -> None:
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()
        self.tail = (self.tail + bytes(data))[-self.keep:]


@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("file", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST][:ro]",
              help="Preopen a host directory (read-write, or read-only with :ro).")
@click.option("--env", "envs", multiple=True, metavar="NAME[=VALUE]", help="Set a guest environment variable.")
@click.option("--memory", default="128MiB", show_default=True,
              help="Linear memory limit per instance, all its memories together.")
@click.option("--timeout", default=None, help="Wall-clock limit, e.g. 5s or 500ms (default: none).")
@click.option("--fuel", type=int, default=None, help="Instruction budget (enables fuel metering).")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk compile cache.")
@click.option("--nn-model", "nn_models", multiple=True, metavar="NAME=FILE.onnx",
              help="Grant a core module the wasi-nn model NAME (wasi_ephemeral_nn; see docs/NN.md).")
def run(file: str, args: tuple[str, ...], dirs: tuple[str, ...], envs: tuple[str, ...], memory: str,
        timeout: str | None, fuel: int | None, no_cache: bool, nn_models: tuple[str, ...]) -> None:
    """Run FILE (a WASI command: .wasm or .wat, core module or component) with ARGS.

    The guest gets nothing it is not given: no files unless --dir, no environment unless --env.
    Its exit code becomes ours; a trap prints the trap and a short backtrace.
    """
    stderr = _StderrTail()
    sandbox = Sandbox(
        args=[file, *args],
        env=dict(_env_pair(e) for e in envs),
        dirs=[Preopen.parse(d) for d in dirs],
        stdin="inherit", stdout="inherit", stderr="inherit", on_stderr=stderr.write,
    )
    limits = Limits(memory=parse_size(memory), timeout=parse_duration(timeout) if timeout else None, fuel=fuel)
    sys.stdout.flush()
    with Runtime(fuel=fuel is not None, cache=False if no_cache else None) as rt:
        linker = _nn_linker(rt, nn_models, limits.timeout) if nn_models else None
        code = _run(rt, file, sandbox, limits, stderr, linker)
    # Free the guest's store now, while the interpreter is whole: dropping it finalizes the stderr
    # stream through our Python callback (at interpreter exit that callback would abort the process).
    gc.collect()
    raise SystemExit(code)


def _nn_linker(rt: Runtime, specs: tuple[str, ...], timeout: float | None) -> Any:
    """WASI preview 1 plus `wasi_ephemeral_nn` serving the `--nn-model` models (granted to this module)."""
    import wasmtime

    from ..capabilities.nn import NnApp, NnLimits, models_from_flags
    from ..capabilities.nn._witx import core_state, define_core_nn

    models = models_from_flags(specs)
    state = core_state(NnApp(models, {}, NnLimits()), list(models), timeout)
    linker = wasmtime.Linker(rt.engine)
    linker.define_wasi()
    define_core_nn(linker, lambda: state)
    return linker


def _run(rt: Runtime, file: str, sandbox: Sandbox, limits: Limits, stderr: _StderrTail, linker: Any = None) -> int:
    """Run the guest and report its failure; returns the exit code. Nothing here exits from inside an
    `except` block: the store (held by the error's traceback) must be freed while the interpreter is
    whole, because freeing it flushes the guest's stderr through our Python callback."""
    try:
        return rt.run(file, sandbox=sandbox, limits=limits, linker=linker).exit_code
    except GuestTrap as e:
        error: WasmhiveError = out_of_memory(e, limits, stderr.tail) or e
        backtrace = e.short_backtrace() if e.backtrace else ""
    except LimitExceeded as e:
        error, backtrace = e, ""
    # rich is imported only now: a guest that exits normally never pays for it (~60 ms).
    from ._terminal import printable

    err_console = _common.err_console
    if isinstance(error, GuestTrap):
        # Function names in a backtrace come from the guest's name section: data, not markup.
        err_console.print(f"[bold red]error:[/] guest trapped: {_common._escape(str(error))}", markup=True,
                          highlight=False)
        if backtrace:
            err_console.print("wasm backtrace:\n" + printable(backtrace, keep_newlines=True), markup=False,
                              highlight=False)
    else:
        err_console.print(f"[bold red]error:[/] {_common._escape(str(error))}", markup=True, soft_wrap=True)
    return error.exit_code
