"""Hooks around a guest's capability calls (outbound HTTP, key-value), for traces and metrics.

A low-layer seam: the HTTP trigger puts an object implementing `CallHooks` into the instance state
(`HostState.calls`) when tracing or metrics are on; host functions here and in the capabilities
ask `start_call` for a `CallSpan` and end it with an outcome. With neither on there is no hooks object and
`start_call` returns None after one lookup.
"""

from __future__ import annotations

from ._state import CallHooks, CallSpan, HostState, current_or_none

__all__ = ["CallHooks", "CallSpan", "start_call"]


def start_call(capability: str, op: str, attrs: dict[str, str | int] | None = None,
               state: HostState | None = None) -> CallSpan | None:
    """A span for a call of the guest making this host call (or of `state`), or None when nothing observes it."""
    st = state if state is not None else current_or_none()
    hooks = st.calls if st is not None else None
    if hooks is None:
        return None
    return hooks.start(capability, op, attrs or {})
