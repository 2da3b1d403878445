"""Host functions and host resources for wasmtime components: one trampoline, one registry, one error slot.

Every host function wasmhive defines — the WASI layer, every capability, the typed host imports of
`Component` (`_host.HostFunc`), imports served by another component (`_host.ForwardFunc`) — is an
entry in one registry, called by one C trampoline with the raw addresses wasmtime passes:
`entry.call(ctx, ty, args, nargs, results, nres)`. An entry converts with the `_lift`/`_lower`
converters of its type (built once) and raises to trap. The trampoline never lets an exception cross
into wasmtime: the exception is kept in this thread's `pending` slot (`take_host_error()`) and the
guest traps with a message naming the function. (wasmtime-py's own slot is process-wide, unsafe with
several threads in guests.) Async host functions (`wasmtime_component_linker_instance_add_func_async`)
would be a second trampoline beside this one, sharing the registry and entries.

While an entry (or a resource destructor) runs, `calling_store()` is the address of the
`wasmtime_context_t` of the store making the call: how host code finds its per-instance state from
the store itself (`wasi._state.current`), also when one thread runs guests of several stores nested
(composition). It is kept per thread only because a Python host function has no other way to see
the trampoline's argument.

`define_func(inst, name, func)` is how host code defines a function, in the one value convention
(`_convert`): converters are built from the import's type on the first call; resources whose type was
defined with `define_resource` arrive and may be returned as integer reps; a function whose WIT result
is a `result` returns the ok value and raises `ResultError(value)` for `err(value)`.

    >>> define_resource(inst, "counter", allocate("my:pkg/iface#counter"), lambda rep: None)
    >>> define_func(inst, "double", lambda x: 2 * x)
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import wasmtime
import wasmtime.component as wc

import wasmhive.component._model as m

from ..runtime._capi import ffi
from ._convert import (
    VAL,
    VAL_SIZE,
    BadValue,
    Lift,
    Lower,
    error_new,
    func_call_at,
    raise_error,
    val_delete_at,
)
from ._lift import lifter
from ._lower import lowerer
from ._restypes import allocate, register
from ._values import Err, ResultError

__all__ = ["Entry", "ExportCall", "HostTrap", "allocate", "calling_store", "define_entry", "define_func",
           "define_resource", "define_table", "pending", "take_host_error", "trap_error", "wit"]

# A Python exception raised by a host function on this thread, kept until the export call that led to
# it returns: our own per-thread slot, never wasmtime-py's process-wide one.
pending = threading.local()
_calling = threading.local()  # .ctx: the store context address of the host call running on this thread


def calling_store() -> int:
    """The `wasmtime_context_t` address of the store whose host call runs on this thread (0: none)."""
    return getattr(_calling, "ctx", 0)


class HostTrap(Exception):
    """Raise in a host function to trap the guest with this message (any exception does the same)."""


class Entry(Protocol):
    """A host function as the trampoline calls it (addresses as wasmtime passes them); raises to trap."""

    name: str

    def call(self, ctx: int, ty: int, args: int, nargs: int, results: int, nres: int) -> None: ...


def take_host_error() -> BaseException | None:
    """The exception that made a host function (or resource destructor) trap on this thread, once."""
    exc = getattr(pending, "exc", None)
    pending.exc = None
    return exc


def trap_error(message: str) -> int:
    """A new `wasmtime_error_t` carrying `message`: what a host callback returns to trap the guest."""
    return int(error_new(message.encode("utf-8", "replace")))


def _fail(what: str, e: BaseException) -> int:
    pending.exc = e
    if isinstance(e, HostTrap):
        return trap_error(f"{what}: {e}")
    return trap_error(f"{what}: host function raised {type(e).__name__}: {e}")


# index → Entry, or (name, dtor, with_store) for a resource destructor; None once wasmtime released it.
_REGISTRY: list[Any] = []
_registry_lock = threading.Lock()
_vp, _sz = ctypes.c_void_p, ctypes.c_size_t


@ctypes.CFUNCTYPE(_sz, _sz, _vp, _vp, _vp, _sz, _vp, _sz)  # type: ignore[untyped-decorator]
def _trampoline(env: int, ctx: int, ty: int, args: int, nargs: int, results: int, nres: int) -> int:
    entry = _REGISTRY[env]
    prev = getattr(_calling, "ctx", 0)
    _calling.ctx = ctx
    try:
        entry.call(ctx, ty, args or 0, nargs, results or 0, nres)
        return 0
    except BaseException as e:  # every failure must become a trap, never unwind into C
        return _fail(entry.name, e)
    finally:
        _calling.ctx = prev


@ctypes.CFUNCTYPE(_sz, _sz, _vp, ctypes.c_uint32)  # type: ignore[untyped-decorator]
def _dtor_trampoline(env: int, ctx: int, rep: int) -> int:
    name, dtor, with_store = _REGISTRY[env]
    prev = getattr(_calling, "ctx", 0)
    _calling.ctx = ctx or 0
    try:
        if with_store:
            dtor(ctx or 0, rep)
        else:
            dtor(rep)
        return 0
    except BaseException as e:  # same: never unwind into C
        return _fail(f"[resource-drop]{name}", e)
    finally:
        _calling.ctx = prev


@ctypes.CFUNCTYPE(None, _vp)  # type: ignore[untyped-decorator]
def _finalize(env: int | None) -> None:
    registry = _REGISTRY
    if registry is not None:  # None once the interpreter is tearing this module down (a store freed at exit)
        registry[env or 0] = None


_TRAMPOLINE = ctypes.cast(_trampoline, ffi.wasmtime_component_func_callback_t)
_DTOR_TRAMPOLINE = ctypes.cast(_dtor_trampoline, ffi.wasmtime_component_resource_destructor_t)
_FINALIZE = ctypes.cast(_finalize, ctypes.CFUNCTYPE(None, ctypes.c_void_p))


def _register(item: Any) -> int:
    with _registry_lock:
        _REGISTRY.append(item)
        return len(_REGISTRY) - 1


def define_entry(inst: wc.LinkerInstance, name: str, entry: Entry) -> None:
    """Define function `name` in a linker instance, served by `entry` (raises `WasmtimeError`)."""
    inst._assert_not_locked()
    raw = name.encode()
    idx = _register(entry)
    err = ffi.wasmtime_component_linker_instance_add_func(inst.ptr(), raw, len(raw), _TRAMPOLINE, idx, _FINALIZE)
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


class _HostFunc:
    """A Python host function; its converters are built from the first call's type."""

    __slots__ = ("catch", "func", "lifts", "lower_result", "name", "sig")

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        self.name, self.func = name, func
        self.lifts: list[Lift] | None = None
        self.lower_result: Lower | None = None
        self.sig: m.FuncSig | None = None
        self.catch = False

    def build(self, ty: int) -> list[Lift]:
        # The type pointer is borrowed from wasmtime for this call: `owner` keeps it from being freed.
        fty = wc.FuncType._from_ptr(ctypes.cast(ty, ctypes.POINTER(ffi.wasmtime_component_func_type_t)), owner=self)
        sig = m.read_func(self.name, fty)
        self.sig = sig
        classes: dict[m.WitType, Any] = {}
        self.catch = isinstance(sig.result, m.ResultOf)
        self.lower_result = lowerer(sig.result) if sig.result is not None else None
        lifts = [lifter(t, classes) for _, t in sig.params]
        self.lifts = lifts  # set last: another thread may be reading
        return lifts

    def call(self, ctx: int, ty: int, args: int, nargs: int, results: int, nres: int) -> None:
        lifts = self.lifts or self.build(ty)
        try:
            if nargs == 0:
                pyargs: list[Any] = []
            elif nargs == 1:
                pyargs = [lifts[0](args, ctx)]
            else:
                pyargs = [f(args + i * VAL_SIZE, ctx) for i, f in enumerate(lifts)]
        except BadValue as e:
            raise HostTrap(f"bad argument from the guest: {e.message}") from None
        try:
            r = self.func(*pyargs)
        except ResultError as e:  # `err(value)` of a function returning `result`; anything else traps
            if not self.catch:
                raise
            r = Err(e.value)
        if nres:
            try:
                self.lower_result(r, results, ctx)  # type: ignore[misc]
            except BadValue as e:
                raise TypeError(f"returned a value that is not {self.sig.result.wit()}"  # type: ignore[union-attr]
                                f"{''.join(e.path)}: {e.message}") from None


def define_func(inst: wc.LinkerInstance, name: str, func: Callable[..., Any], *,
                host_resources: Mapping[int, wc.ResourceType] | None = None) -> None:
    """Define host function `name` in a linker instance; `func(*args)` returns the result value.

    Converters are built from the import's type on the first call and reused. For a `result` return
    type, `func` returns the ok value and raises `ResultError(value)` for `err(value)`; any other
    exception traps the guest (see `take_host_error`). `host_resources` names extra host resource type
    ids (already known when defined with `define_resource`).
    """
    for rid in host_resources or ():
        register(rid)
    define_entry(inst, name, _HostFunc(name, func))


def define_resource(inst: wc.LinkerInstance, name: str, type_id: int, dtor: Callable[..., None], *,
                    with_store: bool = False) -> None:
    """Define host resource type `name` as `ResourceType.host(type_id)`; `dtor(rep)` runs on guest drops
    (`dtor(store_context_address, rep)` with `with_store=True`).

    Take `type_id` from `allocate("<interface>#<name>")` so ids never collide across host interfaces.
    """
    inst._assert_not_locked()
    raw = name.encode()
    rt = register(type_id)
    idx = _register((name, dtor, with_store))
    err = ffi.wasmtime_component_linker_instance_add_resource(inst.ptr(), raw, len(raw), rt.ptr(),
                                                              _DTOR_TRAMPOLINE, idx, _FINALIZE)
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


def wit(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as host function `name` of its class's table (`define_table`)."""
    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        if hasattr(func, "__wit__"):  # one helper serving several resources: each gets its own marked copy
            shared = func

            def func(*args: Any) -> Any:
                return shared(*args)
        func.__wit__ = name  # type: ignore[attr-defined]
        return func
    return mark


def define_table(inst: wc.LinkerInstance, table: object,
                 define: Callable[[wc.LinkerInstance, str, Callable[..., Any]], None] = define_func, *,
                 resource: str = "") -> list[str]:
    """Define every method of `table` marked with `@wit(name)` as host function `name` (via `define`).

    A host interface is written as one small class per resource: its methods are the resource's
    functions, each naming its WIT function; `{r}` in a name stands for `resource` (one class serving
    resources of several interfaces, e.g. Spin's `store` and wasi:keyvalue's `bucket`). Returns the
    names defined.
    """
    names = []
    for attr in dir(type(table)):
        name = getattr(getattr(type(table), attr), "__wit__", None)
        if isinstance(name, str):
            name = name.replace("{r}", resource)
            define(inst, name, getattr(table, attr))
            names.append(name)
    return names


class ExportCall:
    """Calls one component export function, converters built once from its type.

    Build it once per export (the type is the same for every instance of a component), then call it
    with `(store, func, *args)` for any instance. A `result` comes back as the ok value or raises
    `ResultError`; a trap comes out as `wasmtime.WasmtimeError`.
    """

    def __init__(self, func: wc.Func, store: Any, host_resources: Mapping[int, wc.ResourceType] | None = None) -> None:
        for rid in host_resources or ():
            register(rid)
        sig = m.read_func("export", func.type(store))
        self.lowers = [lowerer(t) for _, t in sig.params]
        self.lift_result = lifter(sig.result, None) if sig.result is not None else None
        self.unwrap = isinstance(sig.result, m.ResultOf)  # ok -> value, err -> ResultError

    def __call__(self, store: Any, func: wc.Func, *args: Any) -> Any:
        n = len(self.lowers)
        if len(args) != n:
            raise TypeError(f"expected {n} arguments, got {len(args)}")
        ctx = ctypes.cast(store._context(), ctypes.c_void_p).value or 0
        params = (VAL * max(n, 1))()
        base = ctypes.addressof(params)
        result = VAL()
        try:
            for i, (f, v) in enumerate(zip(self.lowers, args, strict=True)):
                try:
                    f(v, base + i * VAL_SIZE, ctx)
                except BadValue as e:
                    raise TypeError(f"argument {i}{''.join(e.path)}: {e.message}") from None
            has_result = self.lift_result is not None
            err = func_call_at(ctypes.addressof(func._func), ctx, base, n,
                               ctypes.addressof(result) if has_result else None, int(has_result))
            if err:
                raise_error(err)
            if not has_result:
                return None
            try:
                out = self.lift_result(ctypes.addressof(result), ctx)  # type: ignore[misc]
            finally:
                val_delete_at(ctypes.addressof(result))
            if self.unwrap:
                if isinstance(out, Err):
                    raise ResultError(out.value)
                return out.value
            return out
        finally:
            for i in range(n):
                val_delete_at(base + i * VAL_SIZE)  # a zeroed (never written) value is a bool: no-op
