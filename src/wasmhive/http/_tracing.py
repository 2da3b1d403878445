"""OpenTelemetry traces of a served app (`wasmhive up --traces`, the `otel` extra).

A span per request (kind server, named `METHOD route`, continuing the caller's W3C `traceparent`), with
children for the instance's start (`wasmhive.instantiate`), the guest's `handle` call
(`wasmhive.handle`), and each capability call: outbound HTTP (kind client; its `traceparent` goes out in
the request's headers) and key-value. Spans go to the OTLP/HTTP exporter configured by the standard
`OTEL_EXPORTER_OTLP_*` variables (`OTEL_SERVICE_NAME` defaults to "wasmhive"), or to the provider a caller
passes to `enable_tracing`. With tracing off `HttpApp.tracing` is None and nothing here is imported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError
from ._types import Exchange

__all__ = ["Tracing", "check_available", "enable_tracing"]

_SCOPE = "wasmhive"


def check_available() -> None:
    """Raise `ConfigError` when the OpenTelemetry SDK or its OTLP/HTTP exporter is not installed."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        raise ConfigError("--traces needs the OpenTelemetry SDK: pip install 'wasmhive[otel]'") from None


class Tracing:
    """Starts the spans of `HttpApp` (`request`, `span`) and of capability calls (`client`, `internal`)."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import propagate, trace

        self._trace, self._propagate = trace, propagate
        self.tracer = provider.get_tracer(_SCOPE)

    @contextlib.contextmanager
    def request(self, ex: Exchange) -> Iterator[None]:
        """The server span of one exchange, current on this thread while the executor runs."""
        req = ex.request
        parent = self._propagate.extract({k.lower(): v for k, v in req.headers})
        attrs = {"http.request.method": req.method, "http.route": ex.route, "url.path": req.path,
                 "wasmhive.component": ex.component}
        with self.tracer.start_as_current_span(f"{req.method} {ex.route}", context=parent,
                                               kind=self._trace.SpanKind.SERVER, attributes=attrs) as span:
            yield
            if ex.status is not None:
                span.set_attribute("http.response.status_code", ex.status)
                if ex.status >= 500:
                    span.set_status(self._trace.StatusCode.ERROR, ex.failure)

    def span(self, name: str) -> Any:
        """A child of the current span (a context manager)."""
        return self.tracer.start_as_current_span(name)

    def start(self, name: str, *, client: bool, attrs: dict[str, Any]) -> Any:
        """A child of the current span, not made current (it may end on another thread)."""
        kind = self._trace.SpanKind.CLIENT if client else self._trace.SpanKind.INTERNAL
        return self.tracer.start_span(name, kind=kind, attributes=attrs)

    def headers(self, span: Any) -> list[tuple[str, str]]:
        """The propagation headers naming `span` as the parent."""
        carrier: dict[str, str] = {}
        self._propagate.inject(carrier, context=self._trace.set_span_in_context(span))
        return list(carrier.items())


def enable_tracing(http: Any, provider: Any = None) -> Tracing:
    """Trace `http` (an `HttpApp`): through `provider`, or a new one exporting over OTLP/HTTP."""
    check_available()
    if provider is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "wasmhive")})
        provider = TracerProvider(resource=resource)  # flushes its batch at interpreter exit
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracing = Tracing(provider)
    http.tracing = tracing
    return tracing
