"""Lowering: a Python value → a `wasmtime_component_val_t` (by address), one function built per WIT type.

Every value is checked against its type; a bad one raises `BadValue` naming where inside the value it
is (`path`). The payload is written before the kind byte, so a failure leaves a valid (default) value
behind that the owner can still delete. See `_convert` for the calling and value conventions.
"""

from __future__ import annotations

import array
import ctypes
from collections.abc import Mapping
from typing import Any

import wasmhive.component._model as m

from ._convert import (
    ENTRY_SIZE,
    ENTRY_VAL,
    FAST,
    PAYLOAD,
    VAL,
    VAL_SIZE,
    BadValue,
    K,
    Lower,
    any_clone_at,
    host_delete,
    host_new,
    host_to_any,
    ptr_at,
    pyname,
    raise_error,
    rd,
    u8_at,
    val_new_at,
    valflags_new_at,
    vallist_new_at,
    valrecord_new_at,
    write_bytes,
    write_name,
)
from ._values import Err, Ok, ResultError, Some, describe, field_values, variant_parts

__all__ = ["lowerer"]

_memset, _memmove = ctypes.memset, ctypes.memmove
_STAGE_LIMIT = 8192  # `list<u8>` up to this many bytes is staged in a bytearray, longer ones written in place
_SCALARS: dict[str, Any] = {
    "s8": ctypes.c_int8, "u8": ctypes.c_uint8, "s16": ctypes.c_int16, "u16": ctypes.c_uint16,
    "s32": ctypes.c_int32, "u32": ctypes.c_uint32, "s64": ctypes.c_int64, "u64": ctypes.c_uint64,
    "f32": ctypes.c_float, "f64": ctypes.c_double,
}


def lowerer(ty: m.WitType) -> Lower:
    """Build the lowering function for `ty`."""
    if isinstance(ty, m.Prim):
        return _prim(ty.name)
    if isinstance(ty, m.ListOf):
        return _list(ty)
    if isinstance(ty, m.TupleOf):
        return _tuple(ty)
    if isinstance(ty, m.Record):
        return _record(ty)
    if isinstance(ty, m.Enum):
        return _enum(ty)
    if isinstance(ty, m.Flags):
        return _flags(ty)
    if isinstance(ty, (m.Variant, m.OptionOf, m.ResultOf)):
        return _variant(ty)
    if isinstance(ty, (m.Own, m.Borrow)):
        return _resource(ty)
    raise NotImplementedError(ty)


def _boxed(lower: Lower, v: Any, ctx: Any) -> int:
    """A heap `wasmtime_component_val_t` holding `v` (option/variant/result payloads are boxed)."""
    tmp = VAL()
    lower(v, ctypes.addressof(tmp), ctx)
    return int(val_new_at(ctypes.addressof(tmp)))


def _prim(name: str) -> Lower:
    kind = K[name]
    if name in m.INT_RANGES:
        lo, hi = m.INT_RANGES[name]
        from_addr = _SCALARS[name].from_address

        def lower_int(v: Any, a: int, ctx: Any) -> None:
            if v.__class__ is not int and (not isinstance(v, int) or isinstance(v, bool)):
                raise BadValue(f"expects {name}, got {describe(v)}")
            if not lo <= v <= hi:
                raise BadValue(f"{v} is out of range for {name} ({lo}..{hi})", range_error=True)
            from_addr(a + PAYLOAD).value = v
            u8_at(a).value = kind
        return lower_int
    if name == "bool":
        from_bool = ctypes.c_bool.from_address

        def lower_bool(v: Any, a: int, ctx: Any) -> None:
            if not isinstance(v, bool):
                raise BadValue(f"expects bool, got {describe(v)}")
            from_bool(a + PAYLOAD).value = v
            u8_at(a).value = kind
        return lower_bool
    if name in ("f32", "f64"):
        from_float = _SCALARS[name].from_address

        def lower_float(v: Any, a: int, ctx: Any) -> None:
            if not isinstance(v, (float, int)) or isinstance(v, bool):
                raise BadValue(f"expects {name}, got {describe(v)}")
            from_float(a + PAYLOAD).value = float(v)
            u8_at(a).value = kind
        return lower_float
    if name == "char":
        from_u32 = ctypes.c_uint32.from_address

        def lower_char(v: Any, a: int, ctx: Any) -> None:
            if not isinstance(v, str) or len(v) != 1:
                raise BadValue(f"expects char (a one-character str), got {describe(v)}")
            if 0xD800 <= ord(v) <= 0xDFFF:
                raise BadValue("a surrogate is not a Unicode scalar value", range_error=True)
            from_u32(a + PAYLOAD).value = ord(v)
            u8_at(a).value = kind
        return lower_char

    def lower_string(v: Any, a: int, ctx: Any) -> None:
        if not isinstance(v, str):
            raise BadValue(f"expects string, got {describe(v)}")
        try:
            write_name(a + PAYLOAD, v)
        except UnicodeEncodeError:
            raise BadValue("string contains a lone surrogate", range_error=True) from None
        u8_at(a).value = kind
    return lower_string


def _list(ty: m.ListOf) -> Lower:
    kind = K["list"]
    elem_name = ty.elem.name if isinstance(ty.elem, m.Prim) else None
    if elem_name == "u8":
        u8 = bytes([K["u8"]])

        def lower_bytes(v: Any, a: int, ctx: Any) -> None:
            if isinstance(v, (bytes, bytearray, memoryview)):
                n = len(v)
                if n > _STAGE_LIMIT:
                    write_bytes(a + PAYLOAD, v)  # one strided copy straight into the C array
                else:  # staged in a bytearray, then one memmove: faster for small lists (measured)
                    buf = bytearray(n * VAL_SIZE)
                    buf[0::VAL_SIZE] = u8 * n
                    buf[PAYLOAD::VAL_SIZE] = v
                    vallist_new_at(a + PAYLOAD, n)
                    if n:
                        _memmove(rd(a + PAYLOAD + 8), (ctypes.c_char * len(buf)).from_buffer(buf), len(buf))
            elif isinstance(v, (list, tuple)):
                slow(v, a, ctx)
            else:
                raise BadValue(f"expects {ty.wit()} (bytes), got {describe(v)}")
            u8_at(a).value = kind
    elem = lowerer(ty.elem)
    fast = FAST.get(elem_name) if elem_name else None
    ekind = bytes([K[elem_name]]) if fast and elem_name else b""

    def slow(v: Any, a: int, ctx: Any) -> None:
        items = v
        n = len(items)
        vallist_new_at(a + PAYLOAD, n)
        data = rd(a + PAYLOAD + 8)
        if n:
            _memset(data, 0, n * VAL_SIZE)
        u8_at(a).value = kind  # from here the owner frees the (partly filled, zeroed) array
        for i, x in enumerate(items):
            try:
                elem(x, data + i * VAL_SIZE, ctx)
            except BadValue as e:
                e.path.insert(0, f"[{i}]")
                raise

    if elem_name == "u8":
        return lower_bytes

    def lower_list(v: Any, a: int, ctx: Any) -> None:
        if not isinstance(v, (list, tuple)):
            raise BadValue(f"expects {ty.wit()} (a list), got {describe(v)}")
        if fast is None:
            slow(v, a, ctx)
            return
        fmt, per, idx = fast
        try:
            if fmt in "fd":
                if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v):
                    raise TypeError
            elif any(x.__class__ is not int for x in v):
                raise TypeError
            payload = array.array(fmt, v)
        except (TypeError, OverflowError):
            slow(v, a, ctx)  # finds and reports the bad element
            return
        n = len(payload)
        buf = bytearray(n * VAL_SIZE)
        buf[0::VAL_SIZE] = ekind * n
        memoryview(buf).cast(fmt)[idx::per] = payload  # type: ignore[call-overload]
        vallist_new_at(a + PAYLOAD, n)
        if n:
            _memmove(rd(a + PAYLOAD + 8), (ctypes.c_char * len(buf)).from_buffer(buf), n * VAL_SIZE)
        u8_at(a).value = kind
    return lower_list


def _tuple(ty: m.TupleOf) -> Lower:
    elems = [lowerer(e) for e in ty.elems]
    n = len(elems)
    kind = K["tuple"]

    def lower_tuple(v: Any, a: int, ctx: Any) -> None:
        if not isinstance(v, (tuple, list)):
            raise BadValue(f"expects {ty.wit()}, got {describe(v)}")
        if len(v) != n:
            raise BadValue(f"expects a tuple of {n} values, got {len(v)}")
        vallist_new_at(a + PAYLOAD, n)  # a valtuple has the same layout
        data = rd(a + PAYLOAD + 8)
        _memset(data, 0, n * VAL_SIZE)
        u8_at(a).value = kind
        for i, (lo, x) in enumerate(zip(elems, v, strict=False)):
            try:
                lo(x, data + i * VAL_SIZE, ctx)
            except BadValue as e:
                e.path.insert(0, f"[{i}]")
                raise
    return lower_tuple


def _record(ty: m.Record) -> Lower:
    fields = [(name, pyname(name), lowerer(fty)) for name, fty in ty.fields]
    n = len(fields)
    kind = K["record"]
    names = [(f, a) for f, a, _ in fields]
    read = field_values(names, ty.wit())

    def lower_record(v: Any, a: int, ctx: Any) -> None:
        try:
            values = read(v)
        except TypeError as e:
            raise BadValue(str(e)) from None
        valrecord_new_at(a + PAYLOAD, n)
        data = rd(a + PAYLOAD + 8)
        _memset(data, 0, n * ENTRY_SIZE)
        u8_at(a).value = kind
        for i, ((name, _, lo), x) in enumerate(zip(fields, values, strict=True)):
            entry = data + i * ENTRY_SIZE
            write_name(entry, name)
            try:
                lo(x, entry + ENTRY_VAL, ctx)
            except BadValue as e:
                e.path.insert(0, f".{name}")
                raise
    return lower_record


def _enum(ty: m.Enum) -> Lower:
    allowed = set(ty.names)
    kind = K["enum"]

    def lower_enum(v: Any, a: int, ctx: Any) -> None:
        if not isinstance(v, str):
            v = getattr(v, "name", v)  # a Python Enum member named like the case
            if isinstance(v, str):
                v = v.lower().replace("_", "-")
        if not isinstance(v, str):
            raise BadValue(f"expects {ty.wit()} (one of {', '.join(ty.names)}), got {describe(v)}")
        if v not in allowed:
            raise BadValue(f"{v!r} is not a case of {ty.wit()} (one of {', '.join(ty.names)})", range_error=True)
        write_name(a + PAYLOAD, v)
        u8_at(a).value = kind
    return lower_enum


def _flags(ty: m.Flags) -> Lower:
    allowed = set(ty.names)
    kind = K["flags"]

    def lower_flags(v: Any, a: int, ctx: Any) -> None:
        if isinstance(v, Mapping):
            v = {k for k, on in v.items() if on}
        if isinstance(v, str) or not isinstance(v, (set, frozenset, list, tuple)):
            raise BadValue(f"expects {ty.wit()} as a set of names ({', '.join(ty.names)}), got {describe(v)}")
        chosen = set(v)
        bad = [x for x in chosen if x not in allowed]
        if bad:
            raise BadValue(f"{bad[0]!r} is not a flag of {ty.wit()} ({', '.join(ty.names)})", range_error=True)
        picked = [x for x in ty.names if x in chosen]
        valflags_new_at(a + PAYLOAD, len(picked))
        data = rd(a + PAYLOAD + 8)
        for i, name in enumerate(picked):
            write_name(data + 16 * i, name)
        u8_at(a).value = kind
    return lower_flags


def _set_case(ty: m.Variant | m.OptionOf | m.ResultOf, a: int, tag: str, boxed: int) -> None:
    """Write the discriminant and the boxed payload (0: none) of a variant-like value at `a`."""
    if isinstance(ty, m.OptionOf):
        ptr_at(a + PAYLOAD).value = boxed or None
        u8_at(a).value = K["option"]
    elif isinstance(ty, m.ResultOf):
        ptr_at(a + PAYLOAD + 8).value = boxed or None
        ctypes.c_bool.from_address(a + PAYLOAD).value = tag == "ok"
        u8_at(a).value = K["result"]
    else:
        ptr_at(a + PAYLOAD + 16).value = boxed or None
        write_name(a + PAYLOAD, tag)
        u8_at(a).value = K["variant"]


def _payload(lo: Lower | None, tag: str, v: Any, ctx: Any) -> int:
    if lo is None:
        return 0
    try:
        return _boxed(lo, v, ctx)
    except BadValue as e:
        e.path.insert(0, f"<{tag}>")
        raise


def _cases(ty: m.Variant | m.OptionOf | m.ResultOf) -> list[tuple[str, m.WitType | None]]:
    """The cases of a variant-like type in order (`none`/`some`, `ok`/`err` for options and results)."""
    if isinstance(ty, m.OptionOf):
        return [("none", None), ("some", ty.inner)]
    if isinstance(ty, m.ResultOf):
        return [("ok", ty.ok), ("err", ty.err)]
    return list(ty.cases)


def _variant(ty: m.Variant | m.OptionOf | m.ResultOf) -> Lower:
    lowers = {name: (None if t is None else lowerer(t)) for name, t in _cases(ty)}
    names = ", ".join(lowers)

    if isinstance(ty, m.OptionOf):
        inner = lowers["some"]

        def lower_option(v: Any, a: int, ctx: Any) -> None:
            if v is None:
                _set_case(ty, a, "none", 0)
                return
            if isinstance(v, Some):
                v = v.value  # explicit some(...); a bare value means some(value) too
            _set_case(ty, a, "some", _payload(inner, "some", v, ctx))
        return lower_option
    if isinstance(ty, m.ResultOf):
        def lower_result(v: Any, a: int, ctx: Any) -> None:
            if isinstance(v, (Err, ResultError)):
                tag, payload = "err", v.value
            else:
                tag, payload = "ok", (v.value if isinstance(v, Ok) else v)
            _set_case(ty, a, tag, _payload(lowers[tag], tag, payload, ctx))
        return lower_result

    def lower_variant(v: Any, a: int, ctx: Any) -> None:
        if isinstance(v, str) and v in lowers and lowers[v] is None:
            tag, payload = v, None
        else:
            parts = variant_parts(v)
            if parts is None:
                raise BadValue(f"expects {ty.wit()} (Variant(tag, value); cases: {names}), got {describe(v)}")
            tag, payload = parts
        if tag not in lowers:
            raise BadValue(f"{tag!r} is not a case of {ty.wit()} (cases: {names})", range_error=True)
        _set_case(ty, a, tag, _payload(lowers[tag], tag, payload, ctx))
    return lower_variant


def _resource(ty: m.Own | m.Borrow) -> Lower:
    own = isinstance(ty, m.Own)
    kind = K["resource"]
    rid = ty.host_id

    def lower_resource(v: Any, a: int, ctx: Any) -> None:
        raw = getattr(v, "_wasmhive_resource", None)
        if raw is None:
            if ctx.__class__ is int:  # a host function or export call: a host resource is its integer rep
                ptr_at(a + PAYLOAD).value = _rep_to_any(ty, rid, own, v, ctx)
                u8_at(a).value = kind
                return
            host = getattr(ctx, "host_resource", None)  # a host-implemented resource's object
            if host is None:
                raise BadValue(f"expects {ty.wit()} (a resource handle), got {describe(v)}")
            raw = host(ty.resource, v)
        elif own:
            v._wasmhive_moved()
        ptr_at(a + PAYLOAD).value = any_clone_at(ctypes.cast(raw.ptr(), ctypes.c_void_p).value)
        u8_at(a).value = kind
    return lower_resource


def _rep_to_any(ty: m.Own | m.Borrow, rid: int | None, own: bool, v: Any, ctx: int) -> int:
    """A new `resource_any` for host resource rep `v` of type id `rid` (a `BadValue` for anything else)."""
    if not (isinstance(v, int) and not isinstance(v, bool) and rid is not None and 0 <= v <= 0xFFFFFFFF):
        raise BadValue(f"expects {ty.wit()} (a resource handle), got {describe(v)}")
    host = host_new(own, v, rid)
    out = ctypes.c_void_p()
    err = host_to_any(ctx, host, ctypes.byref(out))
    host_delete(host)
    if err:
        raise_error(err)
    return out.value or 0
