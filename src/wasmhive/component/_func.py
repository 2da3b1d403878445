"""Typed calls: a `Plan` per function signature (built once per component), bound to an instance.

The call goes straight to `wasmtime_component_func_call` with a parameter array allocated once
per bound function, so a call costs the conversions plus one C call: no type reflection, no
allocation of argument arrays, no post-call re-reading of the function type.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import WasmtimeError

import wasmhive.component._model as m

from ..runtime._capi import ffi
from ._convert import VAL, VAL_SIZE, BadValue, func_call_at, make_error, pyname, val_delete_at, values
from ._hostcall import take_host_error
from ._lift import lifter
from ._lower import lowerer
from ._values import Err, Record, ResultError

__all__ = ["BoundFunc", "Plan", "take_pending"]

_P = ctypes.POINTER
_memset, _addressof = ctypes.memset, ctypes.addressof


class Plan:
    """Converters and argument binding for one function signature."""

    def __init__(self, qualname: str, sig: m.FuncSig, classes: dict[m.WitType, type[Record]]) -> None:
        self.qualname = qualname
        self.sig = sig
        self.n = len(sig.params)
        self.names = [n for n, _ in sig.params]
        self.pynames = [pyname(n) for n in self.names]
        self.lowers = [lowerer(t) for _, t in sig.params]
        self.lift = None if sig.result is None else lifter(sig.result, classes)
        self.unwrap = isinstance(sig.result, m.ResultOf)
        # Parameters whose C value owns heap memory: deleted (and zeroed) after each call.
        self.owned = [i for i, (_, t) in enumerate(sig.params) if values(t)]
        self.result_owned = sig.result is not None and values(sig.result)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Positional + keyword arguments (by WIT name, `-` or `_`) → positional, with clear errors."""
        if len(args) > self.n:
            raise TypeError(f"{self.qualname}() takes {self.n} argument{'s' if self.n != 1 else ''} "
                            f"({', '.join(self.names) or 'none'}) but {len(args)} were given")
        out = list(args) + [_MISSING] * (self.n - len(args))
        for key, value in kwargs.items():
            try:
                i = self.pynames.index(pyname(key))
            except ValueError:
                raise TypeError(f"{self.qualname}() got an unexpected keyword argument {key!r} "
                                f"(parameters: {', '.join(self.names) or 'none'})") from None
            if i < len(args):
                raise TypeError(f"{self.qualname}() got multiple values for argument {self.names[i]!r}")
            out[i] = value
        missing = [f"'{self.names[i]}: {self.sig.params[i][1].wit()}'" for i, v in enumerate(out) if v is _MISSING]
        if missing:
            raise TypeError(f"{self.qualname}() missing {len(missing)} required argument"
                            f"{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        return tuple(out)

    def bad_argument(self, i: int, e: BadValue) -> Exception:
        return make_error(self.qualname, self.names[i], self.sig.params[i][1], e)


_MISSING = object()


class BoundFunc:
    """A component function of one live instance, callable with Python values."""

    __slots__ = ("__name__", "faddr", "func", "inst", "nres", "paddr", "params", "plan", "raddr", "result")

    def __init__(self, plan: Plan, inst: Any, func: Any) -> None:
        self.plan = plan
        self.inst = inst
        self.func = func  # keeps the wasmtime Func (and its struct) alive
        self.faddr = _addressof(func._func)
        self.params = (VAL * max(plan.n, 1))()
        self.paddr = _addressof(self.params)
        self.result = VAL()
        self.raddr = _addressof(self.result)
        self.nres = 0 if plan.sig.result is None else 1
        self.__name__ = plan.sig.short

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return f"{self.plan.qualname}: {self.plan.sig.wit()}"

    def __repr__(self) -> str:
        return f"<component function {self.plan.qualname}: {self.plan.sig.wit()}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        plan = self.plan
        if kwargs or len(args) != plan.n:
            args = plan.bind(args, kwargs)
        base = self.paddr
        inst = self.inst
        i = 0
        try:
            for lower in plan.lowers:
                lower(args[i], base + i * VAL_SIZE, inst)
                i += 1
        except BadValue as e:
            self._clear(i)
            raise plan.bad_argument(i, e) from None
        except BaseException:
            self._clear(i)
            raise
        inst._before_call()
        err = func_call_at(self.faddr, inst._addr, base, plan.n, self.raddr, self.nres)
        for j in plan.owned:
            p = base + j * VAL_SIZE
            val_delete_at(p)
            _memset(p, 0, VAL_SIZE)
        if err:
            raise inst._call_error(err, plan.qualname)
        lift = plan.lift
        if lift is None:
            return None
        try:
            value = lift(self.raddr, inst)
        finally:
            if plan.result_owned:
                # The next call assigns into this slot, which drops what is there: leave it empty.
                val_delete_at(self.raddr)
                _memset(self.raddr, 0, VAL_SIZE)
        if plan.unwrap:
            if isinstance(value, Err):
                raise ResultError(value.value, function=plan.qualname)
            return value.value
        return value

    def _clear(self, upto: int) -> None:
        # Delete the arguments lowered before a bad one; the bad one may be half-built: leak, not crash.
        # The bad one itself is deleted too: lowering writes its kind only once it owns valid memory.
        for j in self.plan.owned:
            if j <= upto:
                val_delete_at(self.paddr + j * VAL_SIZE)
        _memset(self.paddr, 0, VAL_SIZE * max(self.plan.n, 1))


take_pending = take_host_error


def error_from_ptr(err: int) -> WasmtimeError:
    return WasmtimeError._from_ptr(ctypes.cast(err, _P(ffi.wasmtime_error_t)))
