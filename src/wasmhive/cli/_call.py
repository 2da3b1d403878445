"""`wasmhive call`: call one exported function of a component, arguments parsed by their WIT types."""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError
from ..runtime import Limits, Preopen, Runtime, Sandbox, parse_duration, parse_size
from ._common import err_console
from ._terminal import json_text


# Options may follow the arguments; unknown dashed words (negative numbers) stay arguments.
@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": True})
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("func")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--instance", "-i", default=None, metavar="INTERFACE",
              help="The exported interface FUNC is in (e.g. docs:math/ops, or just ops).")
@click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST][:ro]", help="Preopen a host directory.")
@click.option("--env", "envs", multiple=True, metavar="NAME=VALUE", help="Set a guest environment variable.")
@click.option("--memory", default="128MiB", show_default=True,
              help="Linear memory limit per instance, all its memories together.")
@click.option("--timeout", default=None, help="Wall-clock limit for the call, e.g. 5s or 500ms.")
@click.option("--fuel", type=int, default=None, help="Instruction budget (enables fuel metering).")
@click.option("--stub-imports", is_flag=True,
              help="Let non-WASI imports nobody provides trap when called, instead of refusing to link.")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk compile cache.")
@click.option("--nn-model", "nn_models", multiple=True, metavar="NAME=FILE.onnx",
              help="Grant the component the wasi-nn model NAME (an ONNX file; see docs/NN.md).")
def call(file: str, func: str, args: tuple[str, ...], instance: str | None, dirs: tuple[str, ...],
         envs: tuple[str, ...], memory: str, timeout: str | None, fuel: int | None, stub_imports: bool,
         no_cache: bool, nn_models: tuple[str, ...]) -> None:
    """Call FUNC exported by component FILE with ARGS; print the result as JSON.

    \b
    Each argument is parsed by its WIT type: numbers and bools as written, strings and chars
    as-is, enum cases by name, and JSON for records, lists, tuples, variants, options, results:
      wasmhive call calc.wasm add 3 4                         → 7
      wasmhive call calc.wasm greet Ada --instance docs:math/ops
      wasmhive call calc.wasm stats '[1, 2, 3]'                → {"count": 3, ...}
    An `err` result is printed as {"err": ...} and the exit code is 1.
    """
    for word in (file, func):
        # ignore_unknown_options (for negative numbers) would let an unknown option pass as FILE or FUNC.
        if word.startswith("-") and not word[1:2].isdigit():
            raise click.NoSuchOption(word)
    from ..component import Component, ResultError
    from ..component._json import parse_word, to_json

    env = {}
    for e in envs:
        k, sep, v = e.partition("=")
        if not sep:
            raise ConfigError(f"--env needs NAME=VALUE, got {e!r}")
        env[k] = v
    sandbox = Sandbox(env=env, dirs=[Preopen.parse(d) for d in dirs], stdout="inherit", stderr="inherit")
    limits = Limits(memory=parse_size(memory), timeout=parse_duration(timeout) if timeout else None, fuel=fuel)
    with Runtime(fuel=fuel is not None, cache=False if no_cache else None) as rt:
        comp = Component(rt, file, limits=limits, sandbox=sandbox, stub_imports=stub_imports)
        if nn_models or any(name.startswith("wasi:nn/") for name in comp.signature.imports):
            _link_nn(comp, nn_models, limits.timeout)  # no --nn-model: served, but every model is not-found
        iface, sig = comp.locate(func, instance)
        if len(args) != len(sig.params):
            raise ConfigError(f"{sig.name} takes {len(sig.params)} argument(s) "
                              f"({', '.join(f'{n}: {t.wit()}' for n, t in sig.params) or 'none'}), got {len(args)}")
        values = []
        for (name, ty), word in zip(sig.params, args, strict=True):
            try:
                values.append(parse_word(ty, word))
            except ValueError as e:
                raise ConfigError(f"argument {name} ({ty.wit()}): {e}") from None
        fn = comp.instance.bound(iface, sig.name)
        assert fn is not None
        try:
            result = fn(*values)
        except (TypeError, ValueError) as e:
            raise ConfigError(str(e)) from None
        except ResultError as e:
            err_ty = sig.result.err if sig.result is not None and hasattr(sig.result, "err") else None
            sys.stdout.flush()
            click.echo(json_text({"err": to_json(err_ty, e.value)}))
            raise SystemExit(1) from None
        out_ty = sig.result.ok if sig.result is not None and hasattr(sig.result, "ok") else sig.result
        if sig.result is not None:
            click.echo(json_text(to_json(out_ty, result)))
        elif result is not None:  # pragma: no cover - a function without result returns None
            err_console.print(repr(result))


def _link_nn(comp: object, specs: tuple[str, ...], timeout: float | None) -> None:
    """Serve wasi-nn to this one component: the `--nn-model` models, granted, on its linker."""
    import time

    from ..capabilities.nn import NnApp, NnInstance, NnLimits, link_nn, models_from_flags

    models = models_from_flags(specs)
    app = NnApp(models, {}, NnLimits())
    start = time.monotonic()
    state = NnInstance(models, app, lambda: None if timeout is None else start + timeout)
    with comp.linker.root() as root:  # type: ignore[attr-defined]
        link_nn(root, lambda: state)
