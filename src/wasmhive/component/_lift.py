"""Lifting: `wasmtime_component_val_t` → Python values, one function built per WIT type.

A lifter reads without freeing; the caller deletes the top-level C value once afterwards.
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmhive.component._model as m

from ._convert import FAST, INT_FIELDS, PAYLOAD, Lift, pyname, read_bytes, read_numbers, resource_clone
from ._values import Err, Ok, Record, Some, Variant, record_class

__all__ = ["lifter"]

_string_at, _addressof = ctypes.string_at, ctypes.addressof

def _string(vec: Any) -> str:
    return _string_at(vec.data, vec.size).decode() if vec.size else ""


def lifter(ty: m.WitType, classes: dict[m.WitType, type[Record]] | None = None) -> Lift:
    """Build the lifting function for `ty`. `classes` collects the record classes (one per record type)."""
    classes = {} if classes is None else classes
    if isinstance(ty, m.Prim):
        name = ty.name
        if name == "bool":
            return lambda c, ctx: bool(c.of.boolean)
        if name in INT_FIELDS or name in ("f32", "f64"):
            fld = name
            if name == "u32":
                return lambda c, ctx: c.of.u32
            if name == "s32":
                return lambda c, ctx: c.of.s32
            return lambda c, ctx: getattr(c.of, fld)
        if name == "char":
            return lambda c, ctx: chr(c.of.character)
        return lambda c, ctx: _string(c.of.string)
    if isinstance(ty, m.ListOf):
        fast = FAST.get(ty.elem.name) if isinstance(ty.elem, m.Prim) else None
        if fast is not None and isinstance(ty.elem, m.Prim):
            fmt = fast[0]
            if fmt == "B":
                return lambda c, ctx: read_bytes(_addressof(c) + PAYLOAD)
            return lambda c, ctx: read_numbers(_addressof(c) + PAYLOAD, fmt)
        elem = lifter(ty.elem, classes)

        def lift_list(c: Any, ctx: Any) -> list[Any]:
            lst = c.of.list
            data = lst.data
            return [elem(data[i], ctx) for i in range(lst.size)]
        return lift_list
    if isinstance(ty, m.TupleOf):
        elems = [lifter(e, classes) for e in ty.elems]

        def lift_tuple(c: Any, ctx: Any) -> tuple[Any, ...]:
            data = c.of.tuple.data
            return tuple(lf(data[i], ctx) for i, lf in enumerate(elems))
        return lift_tuple
    if isinstance(ty, m.Record):
        cls = classes.get(ty)
        if cls is None:
            cls = classes[ty] = record_class(tuple(n for n, _ in ty.fields), ty.name)
        fields = [lifter(t, classes) for _, t in ty.fields]
        new = cls.__new__
        setters = [(pyname(n), lf) for (n, _), lf in zip(ty.fields, fields, strict=False)]
        osa = object.__setattr__

        def lift_record(c: Any, ctx: Any) -> Record:
            data = c.of.record.data
            obj = new(cls)
            for i, (attr, lf) in enumerate(setters):
                osa(obj, attr, lf(data[i].val, ctx))
            return obj
        return lift_record
    if isinstance(ty, m.Variant):
        cases = {name: (None if t is None else lifter(t, classes)) for name, t in ty.cases}

        def lift_variant(c: Any, ctx: Any) -> Variant:
            var = c.of.variant
            tag = _string(var.discriminant)
            lf = cases[tag]
            return Variant(tag, None if lf is None else lf(var.val.contents, ctx))
        return lift_variant
    if isinstance(ty, m.Enum):
        return lambda c, ctx: _string(c.of.enumeration)
    if isinstance(ty, m.Flags):
        def lift_flags(c: Any, ctx: Any) -> set[str]:
            fl = c.of.flags
            return {_string(fl.data[i]) for i in range(fl.size)}
        return lift_flags
    if isinstance(ty, m.OptionOf):
        inner = lifter(ty.inner, classes)
        nested = isinstance(ty.inner, m.OptionOf)

        def lift_option(c: Any, ctx: Any) -> Any:
            p = c.of.option
            if not p:
                return None
            v = inner(p.contents, ctx)
            return Some(v) if nested else v
        return lift_option
    if isinstance(ty, m.ResultOf):
        ok = None if ty.ok is None else lifter(ty.ok, classes)
        err = None if ty.err is None else lifter(ty.err, classes)

        def lift_result(c: Any, ctx: Any) -> Any:
            r = c.of.result
            if r.is_ok:
                return Ok(None if ok is None else ok(r.val.contents, ctx))
            return Err(None if err is None else err(r.val.contents, ctx))
        return lift_result
    if isinstance(ty, (m.Own, m.Borrow)):
        rname = ty.resource
        owned = isinstance(ty, m.Own)

        def lift_resource(c: Any, ctx: Any) -> Any:
            from wasmtime.component import ResourceAny

            raw = ResourceAny._from_ptr(resource_clone(c.of.resource))
            return ctx.wrap_resource(rname, raw, owned)
        return lift_resource
    raise NotImplementedError(ty)

