"""Converters between Python values and `wasmtime_component_val_t`, built once per WIT type.

The builders live in `_lower.py` (`lowerer`) and `_lift.py` (`lifter`); this module holds what they
share: the C layout, our own ctypes prototypes, errors. `lowerer(ty)` returns `lower(value, cval, ctx)` writing into a C value; `lifter(ty)` returns
`lift(cval, ctx) -> value` reading one without freeing it (the caller deletes the top-level value
once, which frees everything below it). `ctx` is whatever owns resource handles (an instance).

Lists of numbers and `list<u8>` move through the C array with `memoryview` slices instead of one
Python call per element: the layout is fixed (32-byte values, payload at offset 8). `read_bytes`,
`write_bytes` and `read_numbers` work on a vallist's address and are shared with `_fastpath.py`
(the wasi:http host's converters), as are the C layout constants and the per-thread host-error slot
(`_func.pending`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import wasmhive.component._model as m

from ..runtime._capi import ffi, prototype

__all__ = ["FAST", "INT_FIELDS", "PAYLOAD", "VAL", "VAL_SIZE", "BadValue", "K", "Lift", "Lower", "make_error", "pyname",
           "read_bytes", "read_numbers", "values", "write_bytes"]

Lower = Callable[[Any, Any, Any], None]
Lift = Callable[[Any, Any], Any]

VAL = ffi.wasmtime_component_val_t
VAL_SIZE = ctypes.sizeof(VAL)
ENTRY_SIZE = ctypes.sizeof(ffi.wasmtime_component_valrecord_entry)
PAYLOAD = VAL.of.offset
K = {name: getattr(ffi, f"WASMTIME_COMPONENT_{name.upper()}").value for name in (
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string", "list",
    "record", "tuple", "variant", "enum", "option", "result", "flags", "resource")}





_P = ctypes.POINTER
byte_vec_new = prototype("wasm_byte_vec_new", [_P(ffi.wasm_byte_vec_t), ctypes.c_size_t, ctypes.c_char_p])
vallist_new_uninit = prototype("wasmtime_component_vallist_new_uninit", [_P(ffi.wasmtime_component_vallist_t),
                                                                      ctypes.c_size_t])
valtuple_new_uninit = prototype("wasmtime_component_valtuple_new_uninit", [_P(ffi.wasmtime_component_valtuple_t),
                                                                        ctypes.c_size_t])
valrecord_new_uninit = prototype("wasmtime_component_valrecord_new_uninit",
                              [_P(ffi.wasmtime_component_valrecord_t), ctypes.c_size_t])
valflags_new_uninit = prototype("wasmtime_component_valflags_new_uninit", [_P(ffi.wasmtime_component_valflags_t),
                                                                        ctypes.c_size_t])
val_new = prototype("wasmtime_component_val_new", [_P(VAL)], _P(VAL))
val_delete = prototype("wasmtime_component_val_delete", [_P(VAL)])
resource_clone = prototype("wasmtime_component_resource_any_clone", [_P(ffi.wasmtime_component_resource_any_t)],
                        _P(ffi.wasmtime_component_resource_any_t))
_memset, _memmove, _string_at, _byref = ctypes.memset, ctypes.memmove, ctypes.string_at, ctypes.byref
_addr = ctypes.addressof


class BadValue(Exception):
    """A Python value that does not fit a WIT type; `path` says where inside the value."""

    def __init__(self, message: str, *, range_error: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.range_error = range_error
        self.path: list[str] = []


def _describe(v: Any) -> str:
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def make_error(func: str, param: str, ty: m.WitType, e: BadValue) -> Exception:
    """The TypeError (or ValueError for out-of-range values) a caller sees for a bad argument."""
    where = "".join(e.path)
    msg = f"{func}(): argument '{param}' ({ty.wit()}){' at ' + where if where else ''}: {e.message}"
    return (ValueError if e.range_error else TypeError)(msg)


def pyname(name: str) -> str:
    return name.replace("-", "_")

# Integer kinds: the union field of each.
INT_FIELDS = {"s8": "s8", "u8": "u8", "s16": "s16", "u16": "u16", "s32": "s32", "u32": "u32", "s64": "s64",
               "u64": "u64"}

# Numeric list elements: (array/memoryview format, values per 32-byte slot, index of the payload).
FAST = {"u8": ("B", 32, 8), "s8": ("b", 32, 8), "u16": ("H", 16, 4), "s16": ("h", 16, 4),
         "u32": ("I", 8, 2), "s32": ("i", 8, 2), "u64": ("Q", 4, 1), "s64": ("q", 4, 1),
         "f32": ("f", 8, 2), "f64": ("d", 4, 1)}
_FMT = {fmt: (fmt, per, idx) for fmt, per, idx in FAST.values()}


_KIND_U8 = bytes([K["u8"]])
_vallist_new_uninit_addr = prototype("wasmtime_component_vallist_new_uninit", [ctypes.c_void_p, ctypes.c_size_t])


def _slots(data: int, n: int) -> memoryview:
    # The C value array itself, as bytes: strided slices read/write one field of every value at once.
    return memoryview((ctypes.c_char * (n * VAL_SIZE)).from_address(data)).cast("B")


def read_bytes(vallist: int) -> bytes:
    """The `list<u8>` whose `wasmtime_component_vallist_t` is at address `vallist` (one strided copy)."""
    n = ctypes.c_size_t.from_address(vallist).value
    return bytes(_slots(ctypes.c_void_p.from_address(vallist + 8).value or 0, n)[PAYLOAD::VAL_SIZE]) if n else b""


def write_bytes(vallist: int, data: Any) -> None:
    """Fill the (uninitialised) `wasmtime_component_vallist_t` at address `vallist` with `data` as `list<u8>`."""
    n = len(data)
    _vallist_new_uninit_addr(vallist, n)
    if n:
        mv = _slots(ctypes.c_void_p.from_address(vallist + 8).value or 0, n)
        mv[0::VAL_SIZE] = _KIND_U8 * n
        mv[PAYLOAD::VAL_SIZE] = data


def read_numbers(vallist: int, fmt: str) -> Any:
    """A numeric list (element format `fmt`, a key of `FAST`'s values) at address `vallist`: bytes for
    `B`, else a Python list, read with one strided slice over the C array."""
    if fmt == "B":
        return read_bytes(vallist)
    n = ctypes.c_size_t.from_address(vallist).value
    if not n:
        return []
    _, per, idx = _FMT[fmt]
    return _slots(ctypes.c_void_p.from_address(vallist + 8).value or 0, n).cast(fmt)[idx::per].tolist()  # type: ignore[call-overload]


def values(ty: m.WitType) -> bool:
    """Whether a C value of this type owns heap memory that must be deleted after use."""
    return not (isinstance(ty, m.Prim) and ty.name != "string")
