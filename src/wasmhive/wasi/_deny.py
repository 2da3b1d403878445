"""Deny-all interfaces generated from a component's own import types (filesystem, sockets, ...).

A guest built for the full `wasi:cli` world imports `wasi:filesystem` and `wasi:sockets` even when it
never uses them. Each function here answers like a host that grants nothing: `result`s are errors
(`access` / `access-denied` when the error enum has it), `option`s are none, lists are empty, and a
function that must return a new resource (`instance-network`, `subscribe`) gets an inert one.
Values follow the component layer's value convention: a function returning `result` raises `ResultError(error)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime
import wasmtime.component as wc

from ..component import _model as m
from ..component._hostcall import define_func, define_resource
from ..component._values import Err, ResultError, Variant
from ._io import dropper
from ._state import current, resource_id
from ._streams import Pollable

__all__ = ["link_denied"]

_DENY_CASES = ("access", "access-denied", "not-permitted", "permission-denied")


class Denied(Pollable):
    """An inert resource (a network, a socket's pollable...): always ready, and every method refuses."""


def _default(ty: m.WitType | None) -> Callable[[], Any]:
    """A zero-argument function producing the 'denied' value of `ty` (resources are created per call);
    a `result` is its `err` case (`Err`: the function's own result is raised by `_answer`)."""
    if ty is None:
        return lambda: None
    if isinstance(ty, m.ResultOf):
        err = _default(ty.err)
        return lambda: Err(err())
    if isinstance(ty, m.OptionOf):
        return lambda: None
    if isinstance(ty, m.Enum):
        names = ty.names
        pick = next((n for n in _DENY_CASES if n in names), names[0])
        return lambda: pick
    if isinstance(ty, m.Variant):
        cases = ty.cases
        empty = [n for n, c in cases if c is None]
        name = next((n for n in _DENY_CASES if n in empty), empty[0] if empty else None)
        if name is None:
            name, payload = cases[0][0], _default(cases[0][1])
            return lambda: Variant(name, payload())
        return lambda: Variant(name)
    if isinstance(ty, m.ListOf):
        return (lambda: b"") if ty.elem == m.Prim("u8") else (lambda: [])
    if isinstance(ty, m.Record):
        fields = [(n, _default(f)) for n, f in ty.fields]
        return lambda: {n: f() for n, f in fields}
    if isinstance(ty, m.TupleOf):
        els = [_default(e) for e in ty.elems]
        return lambda: tuple(f() for f in els)
    if isinstance(ty, m.Flags):
        return lambda: set()
    if isinstance(ty, m.Own):
        return lambda: current().table.add(Denied())
    if isinstance(ty, m.Borrow):
        raise TypeError("a function cannot return a borrow")
    zero: Any = _ZERO.get(ty.name, 0)  # integers: 0
    return lambda: zero


_ZERO: dict[str, Any] = {"string": "", "bool": False, "f32": 0.0, "f64": 0.0, "char": "\0"}


def _answer(ty: m.WitType | None) -> Callable[..., Any]:
    """The host function answering with the denied value of result type `ty` (raising a `result`'s err)."""
    value = _default(ty)
    if isinstance(ty, m.ResultOf):
        def refuse(*args: Any) -> Any:
            raise ResultError(value().value)
        return refuse
    return lambda *args: value()


def link_denied(inst: wc.LinkerInstance, iface: str, ity: wc.ComponentInstanceType, engine: wasmtime.Engine,
                seen: list[wc.ResourceType]) -> None:
    """Define `iface` (an import's name, e.g. `wasi:sockets/tcp@0.2.9`) on `inst` as deny-all.

    `seen` holds resource types of the imports defined before this one: a resource equal to one of them
    was brought in with `use` and must not be defined again; new ones are added to it.
    """
    base = iface.partition("@")[0]
    items = ity.exports(engine)
    for name, ext in items.items():
        ty = ext.ty
        if isinstance(ty, wc.ResourceType) and not any(ty == s for s in seen):
            seen.append(ty)
            define_resource(inst, name, resource_id(f"{base}#{name}"), dropper())
    # Resource ids must be registered before the converters of the functions are built.
    for name, ext in items.items():
        ty = ext.ty
        if isinstance(ty, wc.FuncType):
            define_func(inst, name, _answer(m.read_func(name, ty).result))
