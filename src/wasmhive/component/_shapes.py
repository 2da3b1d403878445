"""The Python classes a value may have in the `HOST` convention: what makes a variant tagged or bare.

wasmtime-py's rule, kept so host code written against it reads the same values: a variant, option or
result is passed as `Variant(tag, payload)` only when two of its cases share a Python class; otherwise
as the bare payload (`None` for a case without one), and lowering picks the case by the value's class.
"""

from __future__ import annotations

import wasmtime.component as wc

import wasmhive.component._model as m

__all__ = ["cases", "classes", "is_tagged", "tagged"]

_PRIM: dict[str, type] = {"bool": bool, "f32": float, "f64": float, "char": str, "string": str}


def cases(ty: m.Variant | m.OptionOf | m.ResultOf) -> list[tuple[str, m.WitType | None]]:
    """The cases of a variant-like type, in order (`none`/`some`, `ok`/`err` for options and results)."""
    if isinstance(ty, m.OptionOf):
        return [("none", None), ("some", ty.inner)]
    if isinstance(ty, m.ResultOf):
        return [("ok", ty.ok), ("err", ty.err)]
    return list(ty.cases)


def classes(ty: m.WitType | None) -> set[type]:
    """The Python classes a `HOST`-convention value of `ty` may have (`object` for a case without payload)."""
    if ty is None:
        return {object}
    if isinstance(ty, m.Prim):
        return {_PRIM.get(ty.name, int)}
    if isinstance(ty, m.ListOf):
        return {bytes} if ty.elem == m.Prim("u8") else {list}
    if isinstance(ty, m.TupleOf):
        return {tuple}
    if isinstance(ty, m.Record):
        return {wc.Record}
    if isinstance(ty, m.Flags):
        return {set}
    if isinstance(ty, m.Enum):
        return {str}
    if isinstance(ty, (m.Own, m.Borrow)):
        return {int} if ty.host_id is not None else {wc.ResourceAny, wc.ResourceHost}
    if tagged(ty):
        return {wc.Variant}
    out: set[type] = set()
    for _, case in cases(ty):
        out |= classes(case)
    return out


def tagged(ty: m.Variant | m.OptionOf | m.ResultOf) -> bool:
    """Whether values of `ty` are `Variant`s (two cases share a class) rather than bare payloads."""
    seen: set[type] = set()
    for _, case in cases(ty):
        cs = classes(case)
        if cs & seen:
            return True
        seen |= cs
    return False


def is_tagged(ty: object) -> bool:
    """`tagged` for a wasmtime variant-like type object (as host code reads them from an import's type)."""
    model = m.read_type(ty)
    assert isinstance(model, (m.Variant, m.OptionOf, m.ResultOf))
    return tagged(model)
