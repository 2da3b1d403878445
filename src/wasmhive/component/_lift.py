"""Lifting: a `wasmtime_component_val_t` (by address) → a Python value, one function built per WIT type.

A lifter reads without freeing; the value's owner deletes the top-level C value once afterwards. See
`_convert` for the calling convention and the value convention.
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime.component as wc

import wasmhive.component._model as m

from ..runtime._capi import ffi
from ._convert import (
    ENTRY_SIZE,
    ENTRY_VAL,
    FAST,
    PAYLOAD,
    VAL_SIZE,
    BadValue,
    Lift,
    any_clone_at,
    any_to_host_at,
    host_delete,
    host_rep,
    pyname,
    raise_error,
    rd,
    read_bytes,
    read_name,
    read_numbers,
    u8_at,
    u64_at,
)
from ._values import Err, Ok, Record, Some, Variant, record_class

__all__ = ["lifter"]

_SCALARS: dict[str, Any] = {
    "bool": ctypes.c_bool, "s8": ctypes.c_int8, "u8": ctypes.c_uint8, "s16": ctypes.c_int16, "u16": ctypes.c_uint16,
    "s32": ctypes.c_int32, "u32": ctypes.c_uint32, "s64": ctypes.c_int64, "u64": ctypes.c_uint64,
    "f32": ctypes.c_float, "f64": ctypes.c_double,
}
_ANY = ctypes.POINTER(ffi.wasmtime_component_resource_any_t)


def lifter(ty: m.WitType, classes: dict[m.WitType, type[Record]] | None = None) -> Lift:
    """Build the lifting function for `ty`. `classes` collects the record classes (one per record type)."""
    classes = {} if classes is None else classes
    if isinstance(ty, m.Prim):
        return _prim(ty.name)
    if isinstance(ty, m.ListOf):
        fast = FAST.get(ty.elem.name) if isinstance(ty.elem, m.Prim) else None
        if fast is not None:
            fmt = fast[0]
            if fmt == "B":
                return lambda a, ctx: read_bytes(a + PAYLOAD)
            return lambda a, ctx: read_numbers(a + PAYLOAD, fmt)
        elem = lifter(ty.elem, classes)

        def lift_list(a: int, ctx: Any) -> list[Any]:
            n, data = u64_at(a + PAYLOAD).value, rd(a + PAYLOAD + 8)
            return [elem(data + i * VAL_SIZE, ctx) for i in range(n)]
        return lift_list
    if isinstance(ty, m.TupleOf):
        elems = [lifter(e, classes) for e in ty.elems]

        def lift_tuple(a: int, ctx: Any) -> tuple[Any, ...]:
            data = rd(a + PAYLOAD + 8)
            return tuple(lf(data + i * VAL_SIZE, ctx) for i, lf in enumerate(elems))
        return lift_tuple
    if isinstance(ty, m.Record):
        return _record(ty, classes)
    if isinstance(ty, m.Enum):
        return lambda a, ctx: read_name(a + PAYLOAD)
    if isinstance(ty, m.Flags):
        def lift_flags(a: int, ctx: Any) -> set[str]:
            n, data = u64_at(a + PAYLOAD).value, rd(a + PAYLOAD + 8)
            return {read_name(data + 16 * i) for i in range(n)}
        return lift_flags
    if isinstance(ty, (m.Variant, m.OptionOf, m.ResultOf)):
        return _variant(ty, classes)
    if isinstance(ty, (m.Own, m.Borrow)):
        return _resource(ty)
    raise NotImplementedError(ty)


def _prim(name: str) -> Lift:
    if name == "char":
        from_u32 = ctypes.c_uint32.from_address
        return lambda a, ctx: chr(from_u32(a + PAYLOAD).value)
    if name == "string":
        return lambda a, ctx: read_name(a + PAYLOAD)
    from_addr = _SCALARS[name].from_address
    return lambda a, ctx: from_addr(a + PAYLOAD).value


def _record(ty: m.Record, classes: dict[m.WitType, type[Record]]) -> Lift:
    fields = [(n, pyname(n), lifter(t, classes)) for n, t in ty.fields]
    cls = classes.get(ty)
    if cls is None:
        cls = classes[ty] = record_class(tuple(n for n, _ in ty.fields), ty.name)
    new = cls.__new__
    osa = object.__setattr__

    def lift_record(a: int, ctx: Any) -> Record:
        data = rd(a + PAYLOAD + 8)
        obj = new(cls)
        for i, (_, attr, lf) in enumerate(fields):
            osa(obj, attr, lf(data + i * ENTRY_SIZE + ENTRY_VAL, ctx))
        return obj
    return lift_record


def _variant(ty: m.Variant | m.OptionOf | m.ResultOf, classes: dict[m.WitType, type[Record]]) -> Lift:
    if isinstance(ty, m.OptionOf):
        inner = lifter(ty.inner, classes)
        nested = isinstance(ty.inner, m.OptionOf)

        def lift_option(a: int, ctx: Any) -> Any:
            p = rd(a + PAYLOAD)
            if not p:
                return None
            v = inner(p, ctx)
            return Some(v) if nested else v
        return lift_option
    if isinstance(ty, m.ResultOf):
        ok = None if ty.ok is None else lifter(ty.ok, classes)
        err = None if ty.err is None else lifter(ty.err, classes)

        def lift_result(a: int, ctx: Any) -> Any:
            p = rd(a + PAYLOAD + 8)
            if u8_at(a + PAYLOAD).value:
                return Ok(None if ok is None or not p else ok(p, ctx))
            return Err(None if err is None or not p else err(p, ctx))
        return lift_result
    cases = {name: (None if t is None else lifter(t, classes)) for name, t in ty.cases}

    def lift_variant(a: int, ctx: Any) -> Variant:
        tag = read_name(a + PAYLOAD)
        lf = _case(cases, tag)
        p = rd(a + PAYLOAD + 16)
        return Variant(tag, None if lf is None or not p else lf(p, ctx))
    return lift_variant


def _case(cases: dict[str, Lift | None], tag: str) -> Lift | None:
    try:
        return cases[tag]
    except KeyError:
        raise BadValue(f"unknown case {tag!r} (cases: {', '.join(cases)})") from None


def _resource(ty: m.Own | m.Borrow) -> Lift:
    rname = ty.resource
    owned = isinstance(ty, m.Own)
    reps = ty.host_id is not None

    def lift_resource(a: int, ctx: Any) -> Any:
        if ctx.__class__ is int:  # a host function or export call: host resources are their integer reps
            if reps:
                return _rep(a, ctx)
            return wc.ResourceAny._from_ptr(ctypes.cast(any_clone_at(rd(a + PAYLOAD)), _ANY))
        raw = wc.ResourceAny._from_ptr(ctypes.cast(any_clone_at(rd(a + PAYLOAD)), _ANY))
        return ctx.wrap_resource(rname, raw, owned)
    return lift_resource


def _rep(a: int, ctx: int) -> int:
    """The rep of the host resource at `a`; for a borrow this also ends the borrow (wasmtime requires it
    before the host function returns)."""
    out = ctypes.c_void_p()
    err = any_to_host_at(ctx, rd(a + PAYLOAD), ctypes.byref(out))
    if err:
        raise_error(err)
    try:
        return int(host_rep(out.value))
    finally:
        host_delete(out.value)
