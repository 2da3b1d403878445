"""Host-implemented imports: Python objects (and other components' exports) satisfying a component's imports.

One C trampoline serves every host function. It never lets an exception cross into wasmtime:
a Python exception is recorded in this thread's `pending` slot and returned as a trap, or, for a
function whose result is a `result<_, E>`, a `ResultError` becomes `err(payload)` deliberately.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

import wasmhive.component._model as m

from ..errors import LinkError
from ..runtime._capi import ffi, prototype
from ._convert import BadValue, pyname
from ._func import func_call, pending
from ._hostres import HostCall, HostResource
from ._lift import lifter
from ._lower import lowerer
from ._values import Err, Record, ResultError, class_name

__all__ = ["HostFunc", "define_func", "resolve_provider"]

_P = ctypes.POINTER
add_func = prototype("wasmtime_component_linker_instance_add_func",
                  [_P(ffi.wasmtime_component_linker_instance_t), ctypes.c_char_p, ctypes.c_size_t,
                   ffi.wasmtime_component_func_callback_t, ctypes.c_void_p, ctypes.CFUNCTYPE(None, ctypes.c_void_p)],
                  _P(ffi.wasmtime_error_t))
error_new = prototype("wasmtime_error_new", [ctypes.c_char_p], ctypes.c_void_p)

_REGISTRY: dict[int, Callable[[Any, Any, int, Any, int], int]] = {}
_IDS = itertools.count(1)
_LOCK = threading.Lock()


def trap_error(message: str) -> int:
    return int(error_new(message.encode("utf-8", "replace")))


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _trampoline(data: int | None, context: Any, ty: Any, args: Any, nargs: int, results: Any, nres: int) -> int:
    entry = _REGISTRY.get(data or 0)
    if entry is None:
        return trap_error("wasmhive: host function no longer registered")
    try:
        return entry(context, args, nargs, results, nres)
    except BaseException as e:
        pending.exc = e
        return trap_error(f"host function raised {type(e).__name__}: {e}")


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(data: int | None) -> None:
    with _LOCK:
        _REGISTRY.pop(data or 0, None)


def define_func(linker_instance: Any, name: str, entry: Callable[[Any, Any, int, Any, int], int]) -> None:
    """Define `name` in a wasmtime `LinkerInstance` to run `entry(context, args, nargs, results, nres)`."""
    with _LOCK:
        key = next(_IDS)
        _REGISTRY[key] = entry
    raw = name.encode()
    err = add_func(linker_instance.ptr(), raw, len(raw), _trampoline, key, _finalize)
    if err:
        from wasmtime import WasmtimeError

        raise LinkError(f"cannot define {name}: {WasmtimeError._from_ptr(err)}")


class HostFunc:
    """A Python callable serving one imported function, with converters built once."""

    def __init__(self, qualname: str, sig: m.FuncSig, fn: Callable[..., Any],
                 classes: dict[m.WitType, type[Record]], resources: dict[str, HostResource]) -> None:
        self.qualname = qualname
        self.resources = resources
        self.sig = sig
        self.fn = fn
        self.lifts = [lifter(t, classes) for _, t in sig.params]
        self.lower = None if sig.result is None else lowerer(sig.result)
        self.catch_errors = isinstance(sig.result, m.ResultOf)

    def __call__(self, context: Any, args: Any, nargs: int, results: Any, nres: int) -> int:
        ctx = HostCall(context, self.resources)
        try:
            try:
                pyargs = [lift(args[i], ctx) for i, lift in enumerate(self.lifts)]
            except BadValue as e:
                raise TypeError(f"host function {self.qualname}: {e.message}") from None
            try:
                out = self.fn(*pyargs)
            except ResultError as e:
                if not self.catch_errors:
                    raise
                out = Err(e.value)
            if self.lower is None:
                return 0
            try:
                self.lower(out, results[0], ctx)
            except BadValue as e:
                raise TypeError(f"host function {self.qualname} returned a value that is not "
                                f"{self.sig.result.wit()}{''.join(e.path)}: {e.message}") from None  # type: ignore[union-attr]
            return 0
        finally:
            ctx.close()


class ForwardFunc:
    """An import served by another component instance's export: C values pass through unconverted."""

    def __init__(self, qualname: str, target: Any) -> None:
        self.qualname = qualname
        self.target = target  # a BoundFunc

    def __call__(self, context: Any, args: Any, nargs: int, results: Any, nres: int) -> int:
        t = self.target
        inst = t.inst
        inst._before_call()
        err = func_call(t.fref, inst._cptr, args, nargs, results, nres)
        if err:
            pending.exc = inst._call_error(err, t.plan.qualname)
            return trap_error(f"{t.plan.qualname} (serving import {self.qualname}) failed: {pending.exc}")
        return 0


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
