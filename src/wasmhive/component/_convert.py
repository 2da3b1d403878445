"""The component layer's value conversion: the C layout, the address-level C calls, the value convention.

One builder per direction turns a WIT type (`_model`) into a converter once: `_lower.lowerer(ty)`
returns `lower(value, addr, ctx)` writing a Python value into the `wasmtime_component_val_t` at `addr`;
`_lift.lifter(ty, classes)` returns `lift(addr, ctx) -> value` reading one without freeing it (the
owner deletes the top-level value once, which frees everything below it). Converters work on raw
addresses (no ctypes struct objects on the hot path); `ctx` is what resource handles need: the
instance for typed calls, the `HostCall` of a typed host import, or the caller's `wasmtime_context_t`
address for host functions (`_hostcall`), where host-defined resources are their integer reps.

There is one Python value convention, the same for typed calls, `wasmhive call`, the WASI layer and
every capability (`docs/ARCHITECTURE.md`, "Components from Python"): records are per-type `Record`
classes (dicts accepted), every variant a `Variant(tag, value)`, options `None`/value (`Some` when
nested), results `Ok`/`Err` (a top-level result: the value, or `ResultError`), flags sets of names.

Lists of numbers and `list<u8>` move through the C array with `memoryview` slices instead of one
Python call per element: the layout is fixed (32-byte values, payload at offset 8).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import wasmhive.component._model as m

from ..runtime._capi import ffi, prototype

__all__ = ["FAST", "INT_FIELDS", "PAYLOAD", "VAL", "VAL_SIZE", "BadValue", "K", "Lift", "Lower",
           "make_error", "pyname", "read_bytes", "read_name", "read_numbers", "values", "write_bytes", "write_name"]

# lower(value, addr, ctx) and lift(addr, ctx) -> value; `addr` is a `wasmtime_component_val_t`'s address.
Lower = Callable[[Any, int, Any], None]
Lift = Callable[[int, Any], Any]


VAL = ffi.wasmtime_component_val_t
VAL_SIZE = ctypes.sizeof(VAL)
ENTRY_SIZE = ctypes.sizeof(ffi.wasmtime_component_valrecord_entry)
PAYLOAD = VAL.of.offset
K = {name: getattr(ffi, f"WASMTIME_COMPONENT_{name.upper()}").value for name in (
    "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string", "list",
    "record", "tuple", "variant", "enum", "option", "result", "flags", "resource")}
assert K["bool"] == 0  # a zeroed value is a `bool`: deleting it is a no-op (converters rely on it)

_P = ctypes.POINTER
_string_at = ctypes.string_at

# The C calls the converters make, on plain addresses (no ctypes objects on the hot path).
_vp, _sz = ctypes.c_void_p, ctypes.c_size_t
byte_vec_new_at = prototype("wasm_byte_vec_new", [_vp, _sz, ctypes.c_char_p])
vallist_new_at = prototype("wasmtime_component_vallist_new_uninit", [_vp, _sz])
valrecord_new_at = prototype("wasmtime_component_valrecord_new_uninit", [_vp, _sz])
valflags_new_at = prototype("wasmtime_component_valflags_new_uninit", [_vp, _sz])
val_new_at = prototype("wasmtime_component_val_new", [_vp], _vp)
val_delete_at = prototype("wasmtime_component_val_delete", [_vp])
any_clone_at = prototype("wasmtime_component_resource_any_clone", [_vp], _vp)
any_to_host_at = prototype("wasmtime_component_resource_any_to_host", [_vp, _vp, _vp], _vp)
host_new = prototype("wasmtime_component_resource_host_new", [ctypes.c_bool, ctypes.c_uint32, ctypes.c_uint32], _vp)
host_rep = prototype("wasmtime_component_resource_host_rep", [_vp], ctypes.c_uint32)
host_delete = prototype("wasmtime_component_resource_host_delete", [_vp])
host_to_any = prototype("wasmtime_component_resource_host_to_any", [_vp, _vp, _vp], _vp)
error_new = prototype("wasmtime_error_new", [ctypes.c_char_p], _vp)
func_call_at = prototype("wasmtime_component_func_call", [_vp, _vp, _vp, _sz, _vp, _sz], _vp)
ENTRY_VAL = ffi.wasmtime_component_valrecord_entry.val.offset
u8_at = ctypes.c_uint8.from_address
u64_at = ctypes.c_uint64.from_address
ptr_at = ctypes.c_void_p.from_address


def rd(addr: int) -> int:
    """The pointer stored at `addr` (0 for NULL)."""
    return ptr_at(addr).value or 0


def read_name(vec: int) -> str:
    """The UTF-8 text of the `wasm_byte_vec_t` (a string, enum case or name) at address `vec`."""
    n = u64_at(vec).value
    return _string_at(rd(vec + 8), n).decode() if n else ""


def write_name(vec: int, text: str) -> None:
    """Fill the uninitialised `wasm_byte_vec_t` at address `vec` with `text` as UTF-8."""
    raw = text.encode()
    byte_vec_new_at(vec, len(raw), raw)


def raise_error(err: int) -> None:
    """Raise the `wasmtime_error_t` at `err` as a `WasmtimeError` (taking ownership of it)."""
    from wasmtime import WasmtimeError

    raise WasmtimeError._from_ptr(ctypes.cast(err, _P(ffi.wasmtime_error_t)))


class BadValue(Exception):
    """A Python value that does not fit a WIT type; `path` says where inside the value."""

    def __init__(self, message: str, *, range_error: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.range_error = range_error
        self.path: list[str] = []


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
    vallist_new_at(vallist, n)
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
