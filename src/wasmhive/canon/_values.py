"""The Python shape of canon values: wasmhive's typed convention (`component._values`), as host functions
and export callers see it.

Records lift to one `Record` subclass per record type (named after the WIT type when the component
exports it under a name) and lower from such an instance or a dict keyed by WIT field names. Variants
are always `Variant(tag, value)` (lowered from the same shapes as `component._lower` takes:
`component._values.variant_parts`, or a payload-less case's bare tag); options are
`None` / the value (`Some(x)` for the outer `some` of `option<option<T>>`); results are `Ok(v)` /
`Err(v)`. Top-level results of host functions and exports are unwrapped in `_calls`. A value that fits
no case is a `TypeError` naming the type's cases.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import wasmhive.canon._types as T

from ..component._values import (
    Err,
    Ok,
    Record,
    ResultError,
    Some,
    Variant,
    describe,
    field_values,
    record_class,
    variant_parts,
)

__all__ = ["case_picker", "case_wrapper", "enum_index", "field_getters", "flag_bits", "record_maker"]


# One class per record type, shared by every function using the type.
_classes: weakref.WeakKeyDictionary[T.Record, type[Record]] = weakref.WeakKeyDictionary()


def record_maker(t: T.Record) -> Callable[[list[Any]], Record]:
    """`make(values)`: an instance of `t`'s record class with these field values (in field order)."""
    names = tuple(n for n, _ in t.fields)
    cls = _classes.get(t)
    if cls is None:
        cls = _classes[t] = record_class(names, t.name)
    attrs = [n.replace("-", "_") for n in names]
    new, osa = cls.__new__, object.__setattr__

    def make(values: list[Any]) -> Record:
        obj = new(cls)
        for a, v in zip(attrs, values, strict=True):
            osa(obj, a, v)
        return obj
    return make


def field_getters(t: T.Record | T.Tuple) -> Callable[[Any], list[Any]]:
    """`get(value)`: the field values of a record (a `Record` or a dict) or tuple, in order."""
    if isinstance(t, T.Tuple):
        n = len(t.elems)

        def get_tuple(v: Any) -> list[Any]:
            if not isinstance(v, (tuple, list)) or len(v) != n:
                raise TypeError(f"expected a tuple of {n} values, got {describe(v)}")
            return list(v)
        return get_tuple
    return field_values([(n, n.replace("-", "_")) for n, _ in t.fields], t.name or "record")


def enum_index(names: list[str]) -> Callable[[Any], int]:
    """`index(value)`: the discriminant of an enum case given by name."""
    index = {n: i for i, n in enumerate(names)}

    def get(v: Any) -> int:
        i = index.get(v) if isinstance(v, str) else None
        if i is None:
            raise TypeError(f"expected one of {', '.join(names)}, got {describe(v)}")
        return i
    return get


def flag_bits(names: list[str]) -> Callable[[Any], int]:
    """`bits(value)`: the flags set (a set, or any collection of flag names) as an integer bit mask."""
    bit = {n: 1 << i for i, n in enumerate(names)}

    def to_bits(v: Any) -> int:
        if isinstance(v, (str, Mapping)) or not isinstance(v, (set, frozenset, list, tuple)):
            raise TypeError(f"expected a set of flag names ({', '.join(names)}), got {describe(v)}")
        bits = 0
        for name in v:
            b = bit.get(name)
            if b is None:
                raise TypeError(f"{name!r} is not a flag (flags: {', '.join(names)})")
            bits |= b
        return bits
    return to_bits


def case_wrapper(t: T.Variant) -> Callable[[int, Any], Any]:
    """`wrap(case index, lifted payload or None)`: the Python value of a lifted variant, option or result."""
    if t.kind == "option":
        inner = t.cases[1][1]
        if isinstance(inner, T.Variant) and inner.kind == "option":
            return lambda d, v: Some(v) if d else None
        return lambda d, v: v if d else None
    if t.kind == "result":
        return lambda d, v: Err(v) if d else Ok(v)
    tags = [n for n, _ in t.cases]
    return lambda d, v: Variant(tags[d], v)


def case_picker(t: T.Variant) -> Callable[[Any], tuple[int, Any]]:
    """`pick(value)`: (case index, payload) of a Python value to lower as variant, option or result."""
    if t.kind == "option":
        def pick_option(v: Any) -> tuple[int, Any]:
            if v is None:
                return 0, None
            return 1, v.value if isinstance(v, Some) else v
        return pick_option
    if t.kind == "result":
        def pick_result(v: Any) -> tuple[int, Any]:
            if isinstance(v, (Err, ResultError)):
                return 1, v.value
            return 0, v.value if isinstance(v, Ok) else v
        return pick_result
    index = {name: i for i, (name, _) in enumerate(t.cases)}
    bare = {name: i for i, (name, c) in enumerate(t.cases) if c is None}
    cases = ", ".join(index)

    def pick_variant(v: Any) -> tuple[int, Any]:
        if isinstance(v, str) and v in bare:
            return bare[v], None
        parts = variant_parts(v)
        if parts is None:
            raise TypeError(f"expected Variant(tag, value) with one of {cases}, got {describe(v)}")
        i = index.get(parts[0])
        if i is None:
            raise TypeError(f"{parts[0]!r} is not a case of this variant (cases: {cases})")
        return i, parts[1]
    return pick_variant

