"""Converters keyed by wasmtime's own type objects, in the `HOST` value convention.

The component layer has one host-call path (`_hostcall`: registry, trampoline, `define_func`,
`define_resource`, `ExportCall`) and one converter builder (`_lift`/`_lower`, over `_model` types). This
module is the thin entry for callers that hold wasmtime type objects instead of `_model` types (the
`canon` prototype, tests): it reads the model and returns the same builders' converters, with the
`HOST` convention (`wasmtime.component.Record`/`Variant` values, host resources as integer reps). Host
code imports `define_func`/`define_resource` from `_hostcall`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import wasmtime.component as wc

import wasmhive.component._model as m

from ._convert import HOST, Lift, Lower, read_bytes, write_bytes
from ._hostcall import (
    _REGISTRY,
    ExportCall,
    HostTrap,
    _HostFunc,
    define_func,
    define_resource,
    take_host_error,
)
from ._lift import lifter
from ._lower import lowerer
from ._restypes import register
from ._shapes import tagged

__all__ = ["_REGISTRY", "ExportCall", "HostTrap", "_HostFunc", "_tagged", "define_func", "define_resource", "lift",
           "lower", "read_bytes", "take_host_error", "write_bytes"]


def _model_of(ty: Any, host_resources: Mapping[int, wc.ResourceType] | None) -> m.WitType:
    for rid in host_resources or ():
        register(rid)
    return m.read_type(ty)


def _tagged(ty: Any, host_resources: Mapping[int, wc.ResourceType] | None = None) -> bool:
    """Whether values of the wasmtime variant-like type `ty` are tagged `Variant`s (see `_shapes.tagged`)."""
    model = _model_of(ty, host_resources)
    assert isinstance(model, (m.Variant, m.OptionOf, m.ResultOf))
    return tagged(model)


def lift(ty: Any, host_resources: Mapping[int, wc.ResourceType] | None = None) -> Lift:
    """A lifter `(addr, ctx) -> value` for the wasmtime type `ty` in the `HOST` convention."""
    return lifter(_model_of(ty, host_resources), None, HOST)


def lower(ty: Any, host_resources: Mapping[int, wc.ResourceType] | None = None) -> Lower:
    """A lowerer `(value, addr, ctx)` for the wasmtime type `ty` in the `HOST` convention."""
    return lowerer(_model_of(ty, host_resources), HOST)
