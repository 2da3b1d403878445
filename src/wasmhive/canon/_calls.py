"""Calls across the boundary: an export called by the host (`ExportFunc`, `canon lift`), and an import
called by the guest (`lowered`/`run_lowered`, `canon lower`). Converters are built once per function;
arguments beyond 16 core values and results beyond one travel through guest memory, as the canonical
ABI says.

Values follow wasmhive's typed convention (`_values`). A function returning a `result` is unwrapped at
the top level: a host function returns the ok value and raises `ResultError(e)` for `err(e)`; an export
call returns the ok value or raises `ResultError` carrying the err payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import wasmhive.canon._types as T

from ..component._values import Err, ResultError
from ..errors import GuestTrap
from ._abi import CanonTrap, Cx, loader, storer
from ._flat import flat_lifter, flat_lowerer
from ._parse import ImportedFunc, Lifted, Opts


class Instance(Protocol):
    """What a call needs of the instance it runs in (`_instance.Instance` is the one)."""

    def cx(self, opts: Opts) -> Cx: ...

    def core_func(self, idx: int) -> Any: ...

    def call_core(self, ext: Any, params: list[str], args: list[Any], results: list[str], *,
                  leave: bool = True) -> list[Any]: ...

__all__ = ["MAX_FLAT_PARAMS", "MAX_FLAT_RESULTS", "ExportFunc", "Lowered", "lowered", "run_lowered"]

MAX_FLAT_PARAMS, MAX_FLAT_RESULTS = 16, 1


def _read(kinds: list[str]) -> Callable[[Any], list[Any]]:
    getters = [(i, k) for i, k in enumerate(kinds)]
    return lambda args: [getattr(args[i], k) for i, k in getters]


@dataclass
class Lowered:
    """A `canon lower`: the host function and its converters."""

    name: str
    host: Callable[..., Any]
    params: list[str]  # core param kinds of the core function
    results: list[str]
    lift_args: Callable[[Cx, list[Any]], list[Any]]
    lower_result: Callable[[Cx, Any, list[Any], Any], None] | None
    opts: Opts
    returns_result: bool = False  # a `ResultError` from `host` is the `err` case, not a trap


def _is_result(t: T.ValType | None) -> bool:
    return isinstance(t, T.Variant) and t.kind == "result"


def _arg_lifter(ft: T.FuncType, name: str) -> tuple[list[str], Callable[[Cx, list[Any]], list[Any]]]:
    flat = [k for _, p in ft.params for k in T.flat(p)]
    if len(flat) <= MAX_FLAT_PARAMS:
        lifters = [flat_lifter(p) for _, p in ft.params]

        def lift_flat(cx: Cx, vals: list[Any]) -> list[Any]:
            it = iter(vals)
            return [f(cx, it) for f in lifters]
        return flat, lift_flat
    tup = T.Tuple([p for _, p in ft.params])
    ld, al = loader(tup), T.align(tup)

    def lift_mem(cx: Cx, vals: list[Any]) -> list[Any]:
        ptr = vals[0] & 0xFFFFFFFF
        if ptr % al:
            raise CanonTrap(f"{name}: parameter pointer {ptr} not aligned to {al}")
        return list(ld(cx, ptr))
    return ["i32"], lift_mem


class ExportFunc:
    """A lifted export: `call(instance, *args)` lowers the arguments, runs the core function, lifts the
    result and runs `post-return`."""

    def __init__(self, name: str, lifted: Lifted) -> None:
        ft = lifted.type
        self.name, self.core, self.opts = name, lifted.core, lifted.opts
        flat = [k for _, p in ft.params for k in T.flat(p)]
        self.params_in_memory = len(flat) > MAX_FLAT_PARAMS
        self.param_kinds = ["i32"] if self.params_in_memory else flat
        self.lowerers = [flat_lowerer(p) for _, p in ft.params]
        self.tuple = T.Tuple([p for _, p in ft.params])
        self.store_params = storer(self.tuple) if self.params_in_memory else None
        rflat = T.flat(ft.result) if ft.result is not None else []
        self.result_in_memory = len(rflat) > MAX_FLAT_RESULTS
        self.result_kinds = ["i32"] if self.result_in_memory else rflat
        self.result_align = T.align(ft.result) if ft.result is not None else 1
        self.load_result = loader(ft.result) if ft.result is not None and self.result_in_memory else None
        self.lift_result = flat_lifter(ft.result) if ft.result is not None and not self.result_in_memory else None
        self.unwrap = _is_result(ft.result)

    def call(self, inst: Instance, *args: Any) -> Any:
        cx = inst.cx(self.opts)
        if self.params_in_memory:
            assert self.store_params is not None
            ptr = cx.alloc(T.align(self.tuple), T.size(self.tuple), f"{self.name} parameters")
            self.store_params(cx, args, ptr)
            flat: list[Any] = [ptr]
        else:
            flat = []
            for f, a in zip(self.lowerers, args, strict=True):
                flat += f(cx, a)
        out = inst.call_core(inst.core_func(self.core), self.param_kinds, flat, self.result_kinds)
        try:
            cx.refresh()
            value: Any = None
            if self.lift_result is not None:
                value = self.lift_result(cx, iter(out))
            elif self.load_result is not None:
                ptr = out[0] & 0xFFFFFFFF
                al = self.result_align
                if ptr % al:
                    raise CanonTrap(f"{self.name}: result pointer {ptr} not aligned to {al}")
                value = self.load_result(cx, ptr)
        except CanonTrap as e:
            raise GuestTrap(f"{self.name}: {e}") from None
        if self.opts.post_return is not None:
            inst.call_core(inst.core_func(self.opts.post_return), self.result_kinds, out, [], leave=False)
        if self.unwrap:
            if isinstance(value, Err):
                raise ResultError(value.value, function=self.name)
            return value.value
        return value


def lowered(f: ImportedFunc, opts: Opts, host: Callable[..., Any]) -> Lowered:
    """The converters of a `canon lower` of imported function `f`, served by `host`."""
    ft = f.type
    params, lift_args = _arg_lifter(ft, f.name)
    results: list[str] = []
    lower_result: Callable[[Cx, Any, list[Any], Any], None] | None = None
    if ft.result is not None:
        rflat = T.flat(ft.result)
        if len(rflat) > MAX_FLAT_RESULTS:
            params = [*params, "i32"]
            st, al, sz = storer(ft.result), T.align(ft.result), T.size(ft.result)

            def lower_mem(cx: Cx, v: Any, vals: list[Any], raw: Any) -> None:
                ptr = vals[-1] & 0xFFFFFFFF
                if ptr % al:
                    raise CanonTrap(f"{f.name}: result pointer {ptr} not aligned to {al}")
                cx.check(ptr, sz, f"{f.name} result")
                st(cx, v, ptr)
            lower_result = lower_mem
        else:
            results = rflat
            lf, kind = flat_lowerer(ft.result), rflat[0]

            def lower_flat(cx: Cx, v: Any, vals: list[Any], raw: Any) -> None:
                setattr(raw[0], kind, lf(cx, v)[0])
            lower_result = lower_flat
    return Lowered(f"{f.iface}#{f.name}", host, params, results, lift_args, lower_result, opts,
                   _is_result(ft.result))

def run_lowered(lw: Lowered) -> Callable[[Instance, Any], None]:
    """`run(instance, raw_args)`: lift the guest's core arguments, call the host, lower the result."""
    read = _read(lw.params)
    n_args = len(lw.params) - (1 if lw.lower_result is not None and not lw.results else 0)
    opts, lift_args, host, lower_result = lw.opts, lw.lift_args, lw.host, lw.lower_result
    catch = ResultError if lw.returns_result else ()

    def run(inst: Instance, raw: Any) -> None:
        vals = read(raw)
        cx = inst.cx(opts)
        args = lift_args(cx, vals[:n_args] if n_args != len(vals) else vals)
        try:
            result = host(*args)
        except catch as e:  # `err(value)`; any other exception traps the guest
            result = Err(e.value)
        if lower_result is not None:
            cx.refresh()
            lower_result(cx, result, vals, raw)
    return run
