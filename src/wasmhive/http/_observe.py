"""The per-request `CallHooks` (`wasi/_calls.py`): capability calls reported to traces and metrics.

Made by `HttpApp` for each exchange only when `tracing` or `observer` is set, and handed to the executor
(`Exchange.calls`), which puts it into the instance state where the host functions find it.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["RequestHooks"]


class _Span:
    def __init__(self, hooks: RequestHooks, capability: str, op: str, attrs: dict[str, Any]) -> None:
        self.hooks, self.capability, self.op = hooks, capability, op
        tracing = hooks.tracing
        client = capability == "outbound_http"
        name = op if client else f"{capability} {op}"
        attrs = {**attrs, "wasmhive.capability": capability, "wasmhive.op": op}
        self.span = tracing.start(name, client=client, attrs=attrs) if tracing is not None else None
        self.t0 = time.perf_counter()

    def headers(self) -> list[tuple[str, str]]:
        tracing = self.hooks.tracing
        return tracing.headers(self.span) if tracing is not None else []

    def end(self, outcome: str) -> None:
        observer = self.hooks.observer
        if observer is not None:
            # An outbound call that got a response is "ok" here (its status is on the span).
            observer.capability(self.capability, self.op, "ok" if outcome.isdigit() else outcome,
                                time.perf_counter() - self.t0)
        span = self.span
        if span is not None:
            if outcome.isdigit():
                span.set_attribute("http.response.status_code", int(outcome))
            else:
                span.set_attribute("wasmhive.outcome", outcome)
                if outcome != "ok":
                    span.set_attribute("error.type", outcome)
            span.end()


class RequestHooks:
    """Starts a span per capability call: a trace span (`tracing`) and/or a metrics sample (`observer`)."""

    def __init__(self, tracing: Any, observer: Any) -> None:
        self.tracing = tracing
        self.observer = observer if hasattr(observer, "capability") else None  # `_metrics.Metrics`

    def start(self, capability: str, op: str, attrs: dict[str, str | int]) -> _Span:
        return _Span(self, capability, op, attrs)
