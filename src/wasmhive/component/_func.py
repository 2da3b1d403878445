"""Typed calls: a `Plan` per function signature (built once per component), bound to an instance.

The call goes straight to `wasmtime_component_func_call` with a parameter array allocated once
per bound function, so a call costs the conversions plus one C call: no type reflection, no
allocation of argument arrays, no post-call re-reading of the function type.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from wasmtime import WasmtimeError

import wasmhive.component._model as m

from ..runtime._capi import ffi, prototype
from ._convert import VAL, VAL_SIZE, BadValue, make_error, pyname, val_delete, values
from ._lift import lifter
from ._lower import lowerer
from ._values import Err, Record, ResultError

__all__ = ["BoundFunc", "Plan", "pending"]

_P = ctypes.POINTER
func_call = prototype("wasmtime_component_func_call",
                   [_P(ffi.wasmtime_component_func_t), _P(ffi.wasmtime_context_t), _P(VAL), ctypes.c_size_t,
                    _P(VAL), ctypes.c_size_t], ctypes.c_void_p)
_byref, _memset = ctypes.byref, ctypes.memset

# A Python exception raised by a host function on this thread, kept until the export call that led
# to it returns: our own per-thread slot, never wasmtime-py's process-wide one.
pending = threading.local()


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

    __slots__ = ("__name__", "fref", "func", "inst", "nres", "params", "plan", "resref", "result")

    def __init__(self, plan: Plan, inst: Any, func: Any) -> None:
        self.plan = plan
        self.inst = inst
        self.func = func  # keeps the wasmtime Func (and its struct) alive
        self.fref = _byref(func._func)
        self.params = (VAL * max(plan.n, 1))()
        self.result = VAL()
        self.resref = _byref(self.result)
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
        params = self.params
        inst = self.inst
        i = 0
        try:
            for lower in plan.lowers:
                lower(args[i], params[i], inst)
                i += 1
        except BadValue as e:
            self._clear(i)
            raise plan.bad_argument(i, e) from None
        except BaseException:
            self._clear(i)
            raise
        inst._before_call()
        err = func_call(self.fref, inst._cptr, params, plan.n, self.resref, self.nres)
        for j in plan.owned:
            p = _byref(params[j])
            val_delete(p)
            _memset(p, 0, VAL_SIZE)
        if err:
            raise inst._call_error(err, plan.qualname)
        lift = plan.lift
        if lift is None:
            return None
        try:
            value = lift(self.result, inst)
        finally:
            if plan.result_owned:
                # The next call assigns into this slot, which drops what is there: leave it empty.
                val_delete(self.resref)
                _memset(self.resref, 0, VAL_SIZE)
        if plan.unwrap:
            if isinstance(value, Err):
                raise ResultError(value.value, function=plan.qualname)
            return value.value
        return value

    def _clear(self, upto: int) -> None:
        # Delete the arguments lowered before a bad one; the bad one may be half-built: leak, not crash.
        for j in self.plan.owned:
            if j < upto:
                val_delete(_byref(self.params[j]))
        _memset(self.params, 0, VAL_SIZE * max(self.plan.n, 1))


def take_pending() -> BaseException | None:
    """The host-function exception recorded on this thread, if any (cleared)."""
    exc = getattr(pending, "exc", None)
    pending.exc = None
    return exc


def error_from_ptr(err: int) -> WasmtimeError:
    return WasmtimeError._from_ptr(ctypes.cast(err, _P(ffi.wasmtime_error_t)))
