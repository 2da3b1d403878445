"""Hooks around a guest's capability calls (outbound HTTP, key-value, ...), for traces and metrics.

A low-layer seam: the HTTP trigger puts an object implementing `CallHooks` into the instance state
(`HostState.calls`) when tracing or metrics are on; host functions here and in the capabilities
ask `start_call` for a `CallSpan` and end it with an outcome. With neither on there is no hooks object and
`start_call` returns None after one lookup.

`observed` is the one wrapper every capability host puts around its host functions: the span, and the
capability's own failures turned into the `err` of the WIT function's `result`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..component._hostcall import HostTrap
from ..component._values import ResultError, Variant
from ._state import CallHooks, CallSpan, DeadlineHit, HostState, current_or_none

__all__ = ["CallHooks", "CallSpan", "Errors", "observed", "op_name", "start_call"]

# exception class -> the WIT `err` value for an instance of it (checked in order, by isinstance)
Errors = Mapping[type[Exception], Callable[[Any], Any]]
_NO_ERRORS: Errors = {}


def start_call(capability: str, op: str, attrs: dict[str, str | int] | None = None,
               state: HostState | None = None) -> CallSpan | None:
    """A span for a call of the guest making this host call (or of `state`), or None when nothing observes it."""
    st = state if state is not None else current_or_none()
    hooks = st.calls if st is not None else None
    if hooks is None:
        return None
    return hooks.start(capability, op, attrs or {})


def op_name(wit_name: str) -> str:
    """The operation a WIT function name stands for in spans: `[method]store.get` -> `get`."""
    return wit_name.rpartition(".")[2].removeprefix("[static]").removeprefix("[constructor]")


def _outcome(err: Any) -> str:
    """A span's outcome for `err(value)`: a variant's case, an enum's case, else "err"."""
    if isinstance(err, Variant):
        return err.tag
    return err if isinstance(err, str) else "err"


def observed(capability: str, op: str, fn: Callable[..., Any], errors: Errors = _NO_ERRORS, *,
             internal: str | None = None) -> Callable[..., Any]:
    """`fn` as a host function of `capability`: one span per call (`start_call(capability, op)`), failures
    as the WIT function's `err`.

    `fn` may raise `ResultError` itself; an exception of a class in `errors` becomes
    `ResultError(errors[cls](e))`; any other exception becomes `err(Variant(internal, "internal error: ..."))`
    (logged with its traceback) when `internal` names that case of the WIT's error variant. A `HostTrap`
    always traps the guest, as does anything left. The span ends "ok", with the error's case, "deadline"
    for a `DeadlineHit`, or "trap".
    """
    log = logging.getLogger(f"wasmhive.capabilities.{capability}")

    def to_err(e: Exception) -> Any:
        if not isinstance(e, HostTrap):
            for cls, make in errors.items():
                if isinstance(e, cls):
                    return make(e)
            if internal is not None:
                log.exception("%s %s failed", capability, op)
                return Variant(internal, f"internal error: {e}")
        raise e

    def call(*args: Any) -> Any:
        span = start_call(capability, op)
        try:
            try:
                result = fn(*args)
            except ResultError:
                raise
            except Exception as e:
                raise ResultError(to_err(e)) from None
        except ResultError as e:
            if span is not None:
                span.end(_outcome(e.value))
            raise
        except BaseException as e:
            if span is not None:
                span.end("deadline" if isinstance(e, DeadlineHit) else "trap")
            raise
        if span is not None:
            span.end("ok")
        return result
    return call
