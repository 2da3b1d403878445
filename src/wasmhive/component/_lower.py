"""Lowering: Python values → `wasmtime_component_val_t`, one function built per WIT type."""

from __future__ import annotations

import array
import ctypes
from collections.abc import Callable, Mapping
from typing import Any

import wasmhive.component._model as m

from ._convert import (
    ENTRY_SIZE,
    FAST,
    INT_FIELDS,
    VAL,
    VAL_SIZE,
    BadValue,
    K,
    Lower,
    _describe,
    byte_vec_new,
    pyname,
    resource_clone,
    val_new,
    valflags_new_uninit,
    vallist_new_uninit,
    valrecord_new_uninit,
    valtuple_new_uninit,
)
from ._values import Err, Ok, ResultError, Some, Variant

__all__ = ["lowerer"]

_memset, _memmove, _byref = ctypes.memset, ctypes.memmove, ctypes.byref

def _set_name(vec: Any, text: str) -> None:
    data = text.encode()
    byte_vec_new(_byref(vec), len(data), data)


def lowerer(ty: m.WitType, classes: dict[int, Any] | None = None) -> Lower:
    """Build the lowering function for `ty`."""
    if isinstance(ty, m.Prim):
        return _prim_lowerer(ty.name)
    if isinstance(ty, m.ListOf):
        return _list_lowerer(ty)
    if isinstance(ty, m.TupleOf):
        elems = [lowerer(e) for e in ty.elems]
        n = len(elems)
        kind = K["tuple"]

        def lower_tuple(v: Any, c: Any, ctx: Any) -> None:
            if not isinstance(v, (tuple, list)):
                raise BadValue(f"expects {ty.wit()}, got {_describe(v)}")
            if len(v) != n:
                raise BadValue(f"expects a tuple of {n} values, got {len(v)}")
            c.kind = kind
            t = c.of.tuple
            valtuple_new_uninit(_byref(t), n)
            _memset(t.data, 0, n * VAL_SIZE)
            data = t.data
            for i, (lo, x) in enumerate(zip(elems, v, strict=False)):
                try:
                    lo(x, data[i], ctx)
                except BadValue as e:
                    e.path.insert(0, f"[{i}]")
                    raise
        return lower_tuple
    if isinstance(ty, m.Record):
        fields = [(name, pyname(name), lowerer(fty)) for name, fty in ty.fields]
        n = len(fields)
        kind = K["record"]
        names = [f for f, _, _ in fields]

        def lower_record(v: Any, c: Any, ctx: Any) -> None:
            if isinstance(v, Mapping):
                unknown = [k for k in v if k not in names and str(k).replace("_", "-") not in names]
                if unknown:
                    raise BadValue(f"{ty.wit()} has no field {unknown[0]!r} (fields: {', '.join(names)})")
                get: Callable[[str, str], Any] = lambda f, a: v[f] if f in v else v[a]  # noqa: E731
            else:
                get = lambda f, a: getattr(v, a)  # noqa: E731
            c.kind = kind
            rec = c.of.record
            valrecord_new_uninit(_byref(rec), n)
            _memset(rec.data, 0, n * ENTRY_SIZE)
            data = rec.data
            for i, (name, attr, lo) in enumerate(fields):
                try:
                    x = get(name, attr)
                except (KeyError, AttributeError):
                    raise BadValue(f"expects {ty.wit()}: missing field '{name}' in {_describe(v)}") from None
                entry = data[i]
                _set_name(entry.name, name)
                try:
                    lo(x, entry.val, ctx)
                except BadValue as e:
                    e.path.insert(0, f".{name}")
                    raise
        return lower_record
    if isinstance(ty, m.Variant):
        return _variant_lowerer(ty)
    if isinstance(ty, m.Enum):
        allowed = set(ty.names)
        kind = K["enum"]

        def lower_enum(v: Any, c: Any, ctx: Any) -> None:
            if not isinstance(v, str):
                v = getattr(v, "name", v)  # a Python Enum member named like the case
                if isinstance(v, str):
                    v = v.lower().replace("_", "-")
            if not isinstance(v, str):
                raise BadValue(f"expects {ty.wit()} (one of {', '.join(ty.names)}), got {_describe(v)}")
            if v not in allowed:
                raise BadValue(f"{v!r} is not a case of {ty.wit()} (one of {', '.join(ty.names)})",
                               range_error=True)
            c.kind = kind
            _set_name(c.of.enumeration, v)
        return lower_enum
    if isinstance(ty, m.Flags):
        allowed = set(ty.names)
        kind = K["flags"]

        def lower_flags(v: Any, c: Any, ctx: Any) -> None:
            if isinstance(v, Mapping):
                v = {k for k, on in v.items() if on}
            if isinstance(v, str) or not isinstance(v, (set, frozenset, list, tuple)):
                raise BadValue(f"expects {ty.wit()} as a set of names ({', '.join(ty.names)}), got {_describe(v)}")
            chosen = set(v)
            bad = [x for x in chosen if x not in allowed]
            if bad:
                raise BadValue(f"{bad[0]!r} is not a flag of {ty.wit()} ({', '.join(ty.names)})", range_error=True)
            c.kind = kind
            fl = c.of.flags
            valflags_new_uninit(_byref(fl), len(chosen))
            for i, name in enumerate(x for x in ty.names if x in chosen):
                _set_name(fl.data[i], name)
        return lower_flags
    if isinstance(ty, m.OptionOf):
        inner = lowerer(ty.inner)
        kind = K["option"]

        def lower_option(v: Any, c: Any, ctx: Any) -> None:
            if v is None:
                c.kind = kind
                c.of.option = None
                return
            if isinstance(v, Some):
                v = v.value  # explicit some(...); a bare value means some(value) too
            tmp = VAL()
            inner(v, tmp, ctx)
            c.kind = kind
            c.of.option = val_new(_byref(tmp))
        return lower_option
    if isinstance(ty, m.ResultOf):
        return _result_lowerer(ty)
    if isinstance(ty, (m.Own, m.Borrow)):
        own = isinstance(ty, m.Own)
        kind = K["resource"]

        def lower_resource(v: Any, c: Any, ctx: Any) -> None:
            raw = getattr(v, "_wasmhive_resource", None)
            if raw is None:
                host = getattr(ctx, "host_resource", None)  # a host-implemented resource's object
                if host is None:
                    raise BadValue(f"expects {ty.wit()} (a resource handle), got {_describe(v)}")
                raw = host(ty.resource, v)
            elif own:
                v._wasmhive_moved()
            c.kind = kind
            c.of.resource = resource_clone(raw.ptr())
        return lower_resource
    raise NotImplementedError(ty)




def _prim_lowerer(name: str) -> Lower:
    kind = K[name]
    if name in m.INT_RANGES:
        lo, hi = m.INT_RANGES[name]
        fld = INT_FIELDS[name]

        def lower_int(v: Any, c: Any, ctx: Any) -> None:
            if v.__class__ is not int and (not isinstance(v, int) or isinstance(v, bool)):
                raise BadValue(f"expects {name}, got {_describe(v)}")
            if not lo <= v <= hi:
                raise BadValue(f"{v} is out of range for {name} ({lo}..{hi})", range_error=True)
            c.kind = kind
            setattr(c.of, fld, v)
        # Specialised setters for the common 32-bit cases avoid setattr's name lookup.
        if name == "u32":
            def lower_u32(v: Any, c: Any, ctx: Any) -> None:
                if v.__class__ is not int or not 0 <= v <= 0xFFFFFFFF:
                    lower_int(v, c, ctx)
                    return
                c.kind = kind
                c.of.u32 = v
            return lower_u32
        if name == "s32":
            def lower_s32(v: Any, c: Any, ctx: Any) -> None:
                if v.__class__ is not int or not -0x80000000 <= v <= 0x7FFFFFFF:
                    lower_int(v, c, ctx)
                    return
                c.kind = kind
                c.of.s32 = v
            return lower_s32
        return lower_int
    if name == "bool":
        def lower_bool(v: Any, c: Any, ctx: Any) -> None:
            if not isinstance(v, bool):
                raise BadValue(f"expects bool, got {_describe(v)}")
            c.kind = kind
            c.of.boolean = v
        return lower_bool
    if name in ("f32", "f64"):
        def lower_float(v: Any, c: Any, ctx: Any) -> None:
            if not isinstance(v, (float, int)) or isinstance(v, bool):
                raise BadValue(f"expects {name}, got {_describe(v)}")
            c.kind = kind
            setattr(c.of, name, float(v))
        return lower_float
    if name == "char":
        def lower_char(v: Any, c: Any, ctx: Any) -> None:
            if not isinstance(v, str) or len(v) != 1:
                raise BadValue(f"expects char (a one-character str), got {_describe(v)}")
            if 0xD800 <= ord(v) <= 0xDFFF:
                raise BadValue("a surrogate is not a Unicode scalar value", range_error=True)
            c.kind = kind
            c.of.character = ord(v)
        return lower_char
    if name == "string":
        def lower_string(v: Any, c: Any, ctx: Any) -> None:
            if not isinstance(v, str):
                raise BadValue(f"expects string, got {_describe(v)}")
            try:
                data = v.encode()
            except UnicodeEncodeError:
                raise BadValue("string contains a lone surrogate", range_error=True) from None
            c.kind = kind
            byte_vec_new(_byref(c.of.string), len(data), data)
        return lower_string
    raise NotImplementedError(name)




def _list_lowerer(ty: m.ListOf) -> Lower:
    elem = lowerer(ty.elem)
    kind = K["list"]
    elem_name = ty.elem.name if isinstance(ty.elem, m.Prim) else None
    fast = FAST.get(elem_name) if elem_name else None
    is_bytes = elem_name == "u8"
    ekind = K[elem_name] if fast and elem_name else 0

    def slow(v: Any, c: Any, ctx: Any) -> None:
        n = len(v)
        lst = c.of.list
        vallist_new_uninit(_byref(lst), n)
        if n:
            _memset(lst.data, 0, n * VAL_SIZE)
        data = lst.data
        for i, x in enumerate(v):
            try:
                elem(x, data[i], ctx)
            except BadValue as e:
                e.path.insert(0, f"[{i}]")
                raise

    def lower_list(v: Any, c: Any, ctx: Any) -> None:
        if is_bytes and isinstance(v, (bytes, bytearray, memoryview)):
            payload: Any = bytes(v)
        elif isinstance(v, (list, tuple)) or (not is_bytes and isinstance(v, (bytes, bytearray))):
            payload = None
        else:
            raise BadValue(f"expects {ty.wit()}{' (bytes)' if is_bytes else ' (a list)'}, got {_describe(v)}")
        c.kind = kind
        if fast is None:
            slow(v, c, ctx)
            return
        fmt, per, idx = fast
        n = len(v)
        try:
            if payload is None:
                if fmt in "fd":
                    if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v):
                        raise TypeError
                elif any(x.__class__ is not int for x in v):
                    raise TypeError
                payload = array.array(fmt, v)
        except (TypeError, OverflowError):
            slow(v, c, ctx)  # finds and reports the bad element
            return
        buf = bytearray(n * VAL_SIZE)
        buf[0::VAL_SIZE] = bytes([ekind]) * n
        mv = memoryview(buf).cast(fmt)  # type: ignore[call-overload]
        mv[idx::per] = payload if not isinstance(payload, bytes) else memoryview(payload).cast(fmt)  # type: ignore[call-overload]
        lst = c.of.list
        vallist_new_uninit(_byref(lst), n)
        if n:
            _memmove(lst.data, (ctypes.c_char * len(buf)).from_buffer(buf), n * VAL_SIZE)
    return lower_list


def _variant_lowerer(ty: m.Variant) -> Lower:
    cases = {name: (None if t is None else lowerer(t)) for name, t in ty.cases}
    kind = K["variant"]
    names = ", ".join(cases)

    def lower_variant(v: Any, c: Any, ctx: Any) -> None:
        if isinstance(v, Variant):
            tag, payload = v.tag, v.value
        elif isinstance(v, str) and v in cases and cases[v] is None:
            tag, payload = v, None
        elif isinstance(v, Mapping) and "tag" in v:
            tag, payload = v["tag"], v.get("value")
        elif isinstance(v, Mapping) and len(v) == 1:
            ((tag, payload),) = v.items()
        elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
            tag, payload = v
        else:
            raise BadValue(f"expects {ty.wit()} (Variant(tag, value); cases: {names}), got {_describe(v)}")
        if tag not in cases:
            raise BadValue(f"{tag!r} is not a case of {ty.wit()} (cases: {names})", range_error=True)
        lo = cases[tag]
        c.kind = kind
        _set_name(c.of.variant.discriminant, tag)
        if lo is None:
            c.of.variant.val = None
            return
        tmp = VAL()
        try:
            lo(payload, tmp, ctx)
        except BadValue as e:
            e.path.insert(0, f"<{tag}>")
            raise
        c.of.variant.val = val_new(_byref(tmp))
    return lower_variant


def _result_lowerer(ty: m.ResultOf) -> Lower:
    ok = None if ty.ok is None else lowerer(ty.ok)
    err = None if ty.err is None else lowerer(ty.err)
    kind = K["result"]

    def lower_result(v: Any, c: Any, ctx: Any) -> None:
        if isinstance(v, (Err, ResultError)):
            is_ok, payload, lo = False, v.value, err
        else:
            is_ok, payload, lo = True, (v.value if isinstance(v, Ok) else v), ok
        c.kind = kind
        c.of.result.is_ok = is_ok
        if lo is None:
            c.of.result.val = None
            return
        tmp = VAL()
        try:
            lo(payload, tmp, ctx)
        except BadValue as e:
            e.path.insert(0, "<ok>" if is_ok else "<err>")
            raise
        c.of.result.val = val_new(_byref(tmp))
    return lower_result

