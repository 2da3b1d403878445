"""The canonical ABI's flat values: arguments and results passed as core values, not through memory.

`flat_lifter(t)(cx, it)` reads `t` from the iterator of core values `it`; `flat_lowerer(t)(cx, value)`
returns the core values. Variants use the joined slot types of all their cases (`_types.flat`): a case's
values are coerced from and widened to those slots as the canonical ABI defines. Strings, lists and
handles are checked as in `_abi` (bounds, UTF-8, handle index and type).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import wasmhive.canon._types as T

from ._abi import (
    CanonTrap,
    Cx,
    _case,
    _char,
    _handle_lifter,
    _handle_lowerer,
    _int,
    _lift_list,
    _list_lowerer,
    _string_at,
    lift_string,
    loader,
    lower_string,
)
from ._values import case_picker, case_wrapper, enum_index, field_getters, flag_bits, record_maker

__all__ = ["flat_lifter", "flat_lowerer"]


def _coerce(have: str, want: str, v: Any) -> Any:
    """A joined variant slot (`have`) read as the case's own core type (`want`)."""
    if have == want:
        return v
    if want == "i32":
        return v & 0xFFFFFFFF
    if want == "f32":
        return struct.unpack("<f", struct.pack("<I", v & 0xFFFFFFFF))[0]
    if want == "f64":
        return struct.unpack("<d", struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF))[0]
    return v  # i64 from i64


def _widen(have: str, want: str, v: Any) -> Any:
    """A case's core value stored in the joined slot type `want`."""
    if have == want:
        return v
    if have == "f32":
        bits: int = struct.unpack("<I", struct.pack("<f", v))[0]
        return bits
    if have == "f64":
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
        return bits
    return v & 0xFFFFFFFF if have == "i32" else v


def flat_lifter(t: T.ValType) -> Callable[[Cx, Iterator[Any]], Any]:
    if isinstance(t, T.Prim):
        name = t.name
        if name == "string":
            return lambda cx, it: lift_string(cx, next(it) & 0xFFFFFFFF, next(it) & 0xFFFFFFFF)
        if name == "bool":
            return lambda cx, it: next(it) != 0
        if name == "char":
            return lambda cx, it: _char(next(it) & 0xFFFFFFFF)
        if name in ("f32", "f64"):
            return lambda cx, it: next(it)
        bits = 64 if name in ("s64", "u64") else {"s8": 8, "u8": 8, "s16": 16, "u16": 16}.get(name, 32)
        mask, signed = (1 << bits) - 1, name.startswith("s")

        def lift_int(cx: Cx, it: Iterator[Any]) -> int:
            v: int = next(it) & mask
            return v - (1 << bits) if signed and v >> (bits - 1) else v
        return lift_int
    if isinstance(t, T.List):
        elem = t.elem
        if isinstance(elem, T.Prim) and elem.name == "u8":
            def lift_bytes(cx: Cx, it: Iterator[Any]) -> bytes:
                ptr, n = next(it) & 0xFFFFFFFF, next(it) & 0xFFFFFFFF
                return _string_at(cx.check(ptr, n, "list<u8>"), n)
            return lift_bytes
        el, esz, eal = loader(elem), T.size(elem), T.align(elem)
        return lambda cx, it: _lift_list(cx, el, esz, eal, next(it) & 0xFFFFFFFF, next(it) & 0xFFFFFFFF)
    if isinstance(t, T.Tuple):
        els = [flat_lifter(e) for e in t.elems]
        return lambda cx, it: tuple(f(cx, it) for f in els)
    if isinstance(t, T.Record):
        fields = [flat_lifter(f) for _, f in t.fields]
        make = record_maker(t)
        return lambda cx, it: make([f(cx, it) for f in fields])
    if isinstance(t, T.Enum):
        names = t.names
        return lambda cx, it: _case(names, next(it) & 0xFFFFFFFF, "enum")
    if isinstance(t, T.Flags):
        fnames, words = t.names, len(T.flat(t))

        def lift_flags(cx: Cx, it: Iterator[Any]) -> set[str]:
            bits = 0
            for w in range(words):
                bits |= (next(it) & 0xFFFFFFFF) << (32 * w)
            return {n for i, n in enumerate(fnames) if bits >> i & 1}
        return lift_flags
    if isinstance(t, (T.Own, T.Borrow)):
        lift_handle = _handle_lifter(t)
        return lambda cx, it: lift_handle(cx, next(it) & 0xFFFFFFFF)
    if isinstance(t, T.Variant):
        joined = T.flat(t)[1:]
        cases: list[tuple[Callable[[Cx, Iterator[Any]], Any] | None, list[tuple[str, str]]]] = []
        for _, c in t.cases:
            if c is None:
                cases.append((None, []))
            else:
                cf = T.flat(c)
                cases.append((flat_lifter(c), list(zip(joined, cf, strict=False))))
        wrap = case_wrapper(t)
        n = len(joined)

        def lift_variant(cx: Cx, it: Iterator[Any]) -> Any:
            d = next(it) & 0xFFFFFFFF
            slots = [next(it) for _ in range(n)]
            if d >= len(cases):
                raise CanonTrap(f"variant discriminant {d} out of range ({len(cases)} cases)")
            f, pairs = cases[d]
            if f is None:
                return wrap(d, None)
            vals = iter([_coerce(h, w, slots[i]) for i, (h, w) in enumerate(pairs)])
            return wrap(d, f(cx, vals))
        return lift_variant
    raise TypeError(f"cannot lift {t!r}")


def flat_lowerer(t: T.ValType) -> Callable[[Cx, Any], list[Any]]:
    if isinstance(t, T.Prim):
        name = t.name
        if name == "string":
            return lambda cx, v: list(lower_string(cx, v))
        if name == "bool":
            return lambda cx, v: [1 if v else 0]
        if name == "char":
            return lambda cx, v: [ord(v)]
        if name in ("f32", "f64"):
            return lambda cx, v: [float(v)]
        return lambda cx, v: [_int(v, name)]
    if isinstance(t, T.List):
        ll = _list_lowerer(t)
        return lambda cx, v: list(ll(cx, v))
    if isinstance(t, (T.Tuple, T.Record)):
        items = t.elems if isinstance(t, T.Tuple) else [f for _, f in t.fields]
        fs = [flat_lowerer(f) for f in items]
        getters = field_getters(t)

        def lower_rec(cx: Cx, v: Any) -> list[Any]:
            out: list[Any] = []
            for f, item in zip(fs, getters(v), strict=True):
                out += f(cx, item)
            return out
        return lower_rec
    if isinstance(t, T.Enum):
        index = enum_index(t.names)
        return lambda cx, v: [index(v)]
    if isinstance(t, T.Flags):
        to_bits = flag_bits(t.names)
        words = len(T.flat(t))

        def lower_flags(cx: Cx, v: Any) -> list[Any]:
            bits = to_bits(v)
            return [bits >> (32 * w) & 0xFFFFFFFF for w in range(words)]
        return lower_flags
    if isinstance(t, (T.Own, T.Borrow)):
        lh = _handle_lowerer(t)
        return lambda cx, v: [lh(cx, v)]
    if isinstance(t, T.Variant):
        joined = T.flat(t)[1:]
        pick = case_picker(t)
        cases = [(flat_lowerer(c), T.flat(c)) if c is not None else (None, []) for _, c in t.cases]
        zero = [0.0 if j.startswith("f") else 0 for j in joined]

        def lower_variant(cx: Cx, v: Any) -> list[Any]:
            d, payload = pick(v)
            f, cf = cases[d]
            out = list(zero)
            if f is not None:
                for i, x in enumerate(f(cx, payload)):
                    out[i] = _widen(cf[i], joined[i], x)
            return [d, *out]
        return lower_variant
    raise TypeError(f"cannot lower {t!r}")
