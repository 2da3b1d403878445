"""Hooks around a guest's capability calls (outbound HTTP, key-value), for traces and metrics.

A low-layer seam: the HTTP trigger puts an object implementing `CallHooks` into the instance state
(`HostState.extra["calls"]`) when tracing or metrics are on; host functions here and in the capabilities
ask `start_call` for a `CallSpan` and end it with an outcome. With neither on there is no hooks object and
`start_call` returns None after one lookup.
"""

from __future__ import annotations

from typing import Protocol

from ._state import HostState, _local

__all__ = ["CALLS", "CallHooks", "CallSpan", "start_call"]

CALLS = "calls"  # the key in `HostState.extra`


class CallSpan(Protocol):
    """One capability call in progress."""

    def headers(self) -> list[tuple[str, str]]:
        """Trace-propagation headers (`traceparent`, ...) for an outbound request; [] when not tracing."""
        ...

    def end(self, outcome: str) -> None:
        """The call finished: `outcome` is "ok" or the name of its error."""
        ...


class CallHooks(Protocol):
    """What the trigger hands down: starts a `CallSpan` per capability call."""

    def start(self, capability: str, op: str, attrs: dict[str, str | int]) -> CallSpan: ...


def start_call(capability: str, op: str, attrs: dict[str, str | int] | None = None,
               state: HostState | None = None) -> CallSpan | None:
    """A span for a call of the guest bound to this thread (or `state`), or None when nothing observes it."""
    st = state if state is not None else getattr(_local, "state", None)
    hooks: CallHooks | None = st.extra.get(CALLS) if st is not None else None
    if hooks is None:
        return None
    return hooks.start(capability, op, attrs or {})
