"""Low-overhead calls between the VM and canisters over wasmtime's "unchecked" C API.

wasmtime-py's generic path builds `Val` and `ValType` objects for every argument and result of every
host call (tens of microseconds per message). A canister's System API calls are all integers, so here
host functions read and write the raw value array directly, and the VM calls exports whose type it has
checked once. Types are always checked before a function is called this way: wrong types would be
undefined behaviour, not an error.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import wasmtime

from ..runtime._capi import ffi

__all__ = ["call_raw", "define_raw", "signature"]

_MASK32, _MASK64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _p: None)


def signature(ty: wasmtime.FuncType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(params, results) as short names ("i32", "i64", "f32", "f64", ...)."""
    return tuple(str(t) for t in ty.params), tuple(str(t) for t in ty.results)


def define_raw(linker: wasmtime.Linker, module: str, name: str, ty: wasmtime.FuncType,
               fn: Callable[..., Any], on_error: Callable[[BaseException], str], keep: list[Any]) -> None:
    """Define host function `module.name` of type `ty` calling `fn(*unsigned ints)`.

    An exception from `fn` becomes a trap whose message is `on_error(exception)`. The ctypes callback
    is appended to `keep`, which must live as long as the linker's instances.
    """
    params, results = signature(ty)
    if any(p not in ("i32", "i64") for p in params) or any(r not in ("i32", "i64") for r in results) \
            or len(results) > 1:
        raise wasmtime.WasmtimeError(f"{module}.{name}: unsupported host signature {params} -> {results}")
    n = len(params)
    kinds = tuple(p == "i64" for p in params)
    res = results[0] if results else None

    def cb(_env: Any, _caller: Any, args: Any, _nargs: int) -> int:
        try:
            if n == 0:
                r = fn()
            elif n == 1:
                r = fn(args[0].i64 & _MASK64 if kinds[0] else args[0].i32 & _MASK32)
            else:
                r = fn(*[args[i].i64 & _MASK64 if kinds[i] else args[i].i32 & _MASK32 for i in range(n)])
            if res == "i64":
                r &= _MASK64
                args[0].i64 = r - (1 << 64) if r >= 1 << 63 else r
            elif res == "i32":
                r &= _MASK32
                args[0].i32 = r - (1 << 32) if r >= 1 << 31 else r
            return 0
        except BaseException as e:
            msg = on_error(e).encode("utf-8", "replace")
            trap = ffi.wasmtime_trap_new(ctypes.create_string_buffer(msg), len(msg))
            return ctypes.cast(trap, ctypes.c_void_p).value or 0

    c_cb = ffi.wasmtime_func_unchecked_callback_t(cb)
    keep.append(c_cb)
    m, nm = module.encode(), name.encode()
    err = ffi.wasmtime_linker_define_func_unchecked(linker.ptr(), ctypes.create_string_buffer(m), len(m),
                                                    ctypes.create_string_buffer(nm), len(nm), ty.ptr(), c_cb,
                                                    None, _FINALIZER)
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


def call_raw(store: wasmtime.Store, func: wasmtime.Func, args: tuple[int, ...] = (),
             kinds: tuple[bool, ...] = ()) -> None:
    """Call `func` (whose type the caller has checked: params per `kinds`, True = i64; no results)."""
    n = len(args)
    buf = (ffi.wasmtime_val_raw_t * max(n, 1))()
    for i, a in enumerate(args):
        if kinds[i]:
            buf[i].i64 = a - (1 << 64) if a >= 1 << 63 else a
        else:
            buf[i].i32 = a - (1 << 32) if a >= 1 << 31 else a
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    err = ffi.wasmtime_func_call_unchecked(store._context(), ctypes.byref(func._func), buf, n, ctypes.byref(trap))
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)
    if trap:
        raise wasmtime.Trap._from_ptr(trap)
