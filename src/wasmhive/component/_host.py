"""Host-implemented imports: Python objects (and other components' exports) satisfying a component's imports.

Both kinds are entries of the one host-call registry (`_hostcall`): a Python exception traps the guest
(kept in this thread's `pending` slot), or, for a function whose result is a `result<_, E>`, a
`ResultError` becomes `err(payload)` deliberately.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping
from typing import Any

import wasmtime

import wasmhive.component._model as m

from ..errors import LinkError
from ._convert import VAL_SIZE, BadValue, func_call_at, pyname
from ._hostcall import HostTrap, define_entry
from ._hostres import HostCall, HostResource
from ._lift import lifter
from ._lower import lowerer
from ._values import Err, Record, ResultError, class_name

__all__ = ["ForwardFunc", "HostFunc", "define_func", "resolve_provider"]


def define_func(linker_instance: Any, name: str, entry: Any) -> None:
    """Define `name` in a wasmtime `LinkerInstance`, served by `entry` (a `HostFunc`, `ForwardFunc`, ...)."""
    try:
        define_entry(linker_instance, name, entry)
    except wasmtime.WasmtimeError as e:
        raise LinkError(f"cannot define {name}: {e}") from None


class HostFunc:
    """A Python callable serving one imported function, with converters built once."""

    def __init__(self, qualname: str, sig: m.FuncSig, fn: Callable[..., Any],
                 classes: dict[m.WitType, type[Record]], resources: dict[str, HostResource]) -> None:
        self.qualname = self.name = qualname
        self.resources = resources
        self.sig = sig
        self.fn = fn
        self.lifts = [lifter(t, classes) for _, t in sig.params]
        self.lower = None if sig.result is None else lowerer(sig.result)
        self.catch_errors = isinstance(sig.result, m.ResultOf)

    def call(self, context: int, ty: int, args: int, nargs: int, results: int, nres: int) -> None:
        ctx = HostCall(context, self.resources)
        try:
            try:
                pyargs = [lift(args + i * VAL_SIZE, ctx) for i, lift in enumerate(self.lifts)]
            except BadValue as e:
                raise TypeError(f"host function {self.qualname}: {e.message}") from None
            try:
                out = self.fn(*pyargs)
            except ResultError as e:
                if not self.catch_errors:
                    raise
                out = Err(e.value)
            if self.lower is None:
                return
            try:
                self.lower(out, results, ctx)
            except BadValue as e:
                raise TypeError(f"host function {self.qualname} returned a value that is not "
                                f"{self.sig.result.wit()}{''.join(e.path)}: {e.message}") from None  # type: ignore[union-attr]
        finally:
            ctx.close()


class ForwardFunc:
    """An import served by another component instance's export: C values pass through unconverted."""

    def __init__(self, qualname: str, target: Any) -> None:
        self.qualname = self.name = qualname
        self.target = target  # a BoundFunc

    def call(self, context: int, ty: int, args: int, nargs: int, results: int, nres: int) -> None:
        t = self.target
        inst = t.inst
        inst._before_call()
        err = func_call_at(ctypes.addressof(t.func._func), inst._addr, args, nargs, results, nres)
        if err:
            exc = inst._call_error(err, t.plan.qualname)
            raise HostTrap(f"{t.plan.qualname} (serving import {self.qualname}) failed: {exc}") from exc


def _lookup(provider: Any, keys: list[str]) -> Any:
    if isinstance(provider, Mapping):
        for k in keys:
            if k in provider:
                return provider[k]
        return None
    for k in keys:
        try:
            return getattr(provider, k)
        except (AttributeError, KeyError):
            continue
    return None


def resolve_provider(provider: Any, func: m.FuncSig) -> Any:
    """Find the Python callable (or BoundFunc) for `func` on a provider object, dict or module.

    For a resource's constructor, methods and static functions: the class (found by its Python class
    name, e.g. `Bucket`, or the WIT name) and its attributes."""
    if func.kind != "freestanding":
        res = func.resource or ""
        cls = _lookup(provider, [class_name(res), res, pyname(res)])
        if cls is None or func.kind == "constructor":
            return cls
        return getattr(cls, pyname(func.short), None)
    return _lookup(provider, [func.name, pyname(func.name)])


def lookup_import(imports: Mapping[str, Any], name: str) -> Any:
    """The provider for import `name`: exact, without `@version`, or by Python-style name."""
    if name in imports:
        return imports[name]
    base = name.split("@", 1)[0]
    for key, value in imports.items():
        if key.split("@", 1)[0] == base or key == m.wit_name(name):
            return value
    return None


def check_same(import_name: str, want: m.FuncSig, have: m.FuncSig) -> None:
    # Parameter names do not matter for passing values through; types must match exactly.
    if [t for _, t in want.params] != [t for _, t in have.params] or want.result != have.result:
        raise LinkError(f"import {import_name}: expected {want.wit()}, but the provider has {have.wit()}")
