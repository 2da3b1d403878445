"""OpenTelemetry traces (`wasmhive up --traces`): spans of real guests, the traceparent an outbound call
carries over loopback, key-value call spans, and spans exported over real OTLP/HTTP by `wasmhive up`."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from app_fixtures import free_port, spin_sdk_example
from cluster_fixtures import up_guest, up_without
from wasmhive.http import HttpApp, ServerLimits
from wasmhive.http._tracing import enable_tracing

pytest_plugins = ("http_fixtures",)

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")
SpanKind = pytest.importorskip("opentelemetry.trace").SpanKind

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[tuple[Any, Any]]:
    """A tracer provider writing finished spans to memory, and that exporter."""
    exporter = in_memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[list[tuple[str, str]]]] = []

    def do_GET(self) -> None:
        type(self).seen.append([(k.lower(), v) for k, v in self.headers.items()])
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[list[tuple[str, str]]]]]:
    """A loopback server remembering each request's headers."""
    handler = type("Rec", (_Recorder,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    server.shutdown()
    server.server_close()


def _by_name(finished: Any) -> dict[str, Any]:
    return {s.name: s for s in finished}


def test_request_span_with_instantiate_handle_and_outbound_children(new_executor: Any, spans: Any,
                                                                    recorder: Any) -> None:
    from wasmhive.capabilities.outbound_http import OutboundPolicy
    from wasmhive.http import Request

    provider, exporter = spans
    target, seen = recorder
    ex = new_executor(outbound=OutboundPolicy.parse([target]))
    with HttpApp([("/...", ex)], limits=ServerLimits(threads=2)) as app:
        enable_tracing(app, provider)
        parent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
        # The guest sends a header of its own and a traceparent of its own.
        guest_parent = "00-11111111111111111111111111111111-2222222222222222-01"
        query = f"url={target}/down&header=x-guest:kept&header=traceparent:{guest_parent}"
        r = app.handle(Request("GET", "/outbound", query, headers=[("traceparent", parent)]))
        assert r.status == 200 and r.text == "200\nok", r.text
        app.handle(Request("GET", "/status/503"))
    finished = exporter.get_finished_spans()
    requests = [s for s in finished if s.kind == SpanKind.SERVER]
    assert [s.name for s in requests] == ["GET /...", "GET /..."]
    first, second = requests
    # Continued from the caller's traceparent; the second request starts its own trace.
    assert f"{first.context.trace_id:032x}" == CALLER_TRACE
    assert f"{first.parent.span_id:016x}" == CALLER_SPAN
    assert second.parent is None and second.context.trace_id != first.context.trace_id
    assert first.attributes["http.route"] == "/..." and first.attributes["url.path"] == "/outbound"
    assert first.attributes["wasmhive.component"] == "pyguest"
    assert first.attributes["http.response.status_code"] == 200
    assert second.attributes["http.response.status_code"] == 503

    mine = [s for s in finished if s.context.trace_id == first.context.trace_id]
    named = _by_name(mine)
    assert set(named) == {"GET /...", "wasmhive.instantiate", "wasmhive.handle", "GET"}
    assert named["wasmhive.instantiate"].parent.span_id == first.context.span_id
    assert named["wasmhive.handle"].parent.span_id == first.context.span_id
    client = named["GET"]
    assert client.kind == SpanKind.CLIENT
    assert client.parent.span_id == named["wasmhive.handle"].context.span_id
    assert client.attributes["server.address"] == "127.0.0.1"
    assert client.attributes["http.response.status_code"] == 200
    assert client.attributes["wasmhive.capability"] == "outbound_http"

    # The target received our traceparent (the request's trace, the client span as its parent) instead of
    # the guest's, once, and the guest's other header unchanged.
    assert len(seen) == 1
    assert [v for k, v in seen[0] if k == "traceparent"] == [f"00-{CALLER_TRACE}-{client.context.span_id:016x}-01"]
    assert [v for k, v in seen[0] if k == "x-guest"] == ["kept"]


def test_failed_and_denied_outbound_calls_end_their_spans(new_executor: Any, spans: Any) -> None:
    from wasmhive.capabilities.outbound_http import OutboundPolicy
    from wasmhive.http import Request

    provider, exporter = spans
    closed = f"http://127.0.0.1:{free_port()}"  # allowed, but nothing listens there
    ex = new_executor(outbound=OutboundPolicy.parse([closed]))
    with HttpApp([("/...", ex)], limits=ServerLimits(threads=2)) as app:
        enable_tracing(app, provider)
        r = app.handle(Request("GET", "/outbound", f"url={closed}/x"))
        assert r.text == "error: ErrorCode_ConnectionRefused", r.text
        r = app.handle(Request("GET", "/outbound", "url=http://example.invalid/x"))
        assert r.text == "error: ErrorCode_HttpRequestDenied", r.text
    # Each call ended its span with its error code, the denied one too.
    client = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [s.attributes["error.type"] for s in client] == ["connection-refused", "HTTP-request-denied"]
    assert [s.attributes["server.address"] for s in client] == ["127.0.0.1", "example.invalid"]


@pytest.fixture(scope="module")
def spin_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return spin_sdk_example(tmp_path_factory.mktemp("spinsdk"))


def test_key_value_calls_are_spans_of_the_request(spin_app: Path, spans: Any, http_runtime: Any) -> None:
    from wasmhive.app import App
    from wasmhive.http import Request

    provider, exporter = spans
    with App.load(spin_app, runtime=http_runtime) as app, app.http_app(close_app=False) as http_app:
        enable_tracing(http_app, provider)
        r = http_app.handle(Request("GET", "/spin/a"))
        assert r.status == 200 and "#1 GET /a" in r.text, r.text
    finished = exporter.get_finished_spans()
    server = next(s for s in finished if s.kind == SpanKind.SERVER)
    assert server.name == "GET /spin/..." and server.attributes["wasmhive.component"] == "hello"
    handle = next(s for s in finished if s.name == "wasmhive.handle")
    kv = [s for s in finished if s.attributes.get("wasmhive.capability") == "key_value"]
    assert [s.attributes["wasmhive.op"] for s in kv] == ["open", "get", "set"]
    assert all(s.parent.span_id == handle.context.span_id for s in kv)
    assert all(s.attributes["wasmhive.outcome"] == "ok" for s in kv)
    assert [s.name for s in kv] == ["key_value open", "key_value get", "key_value set"]


class _Otlp(http.server.BaseHTTPRequestHandler):
    spans: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = self.rfile.read(int(self.headers["content-length"]))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(body)
        for rs in msg.resource_spans:
            service = next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
            for ss in rs.scope_spans:
                type(self).spans.extend((self.path, service, s.name) for s in ss.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.slow
def test_up_traces_exports_over_otlp_http(http_guest: Path, compile_cache: Path, tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    handler = type("Otlp", (_Otlp,), {"spans": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
           "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "edge-a"}
    try:
        with up_guest(http_guest, compile_cache, tmp_path, "--traces", env=env) as up:
            up.wait_ready()
            for _ in range(3):
                assert httpx.get(up.url + "/hello", timeout=30).status_code == 200
            deadline = time.monotonic() + 30
            while len(handler.spans) < 9 and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()
    names = sorted(name for _, _, name in handler.spans)
    assert names == ["GET /...", "GET /...", "GET /...", *["wasmhive.handle"] * 3, *["wasmhive.instantiate"] * 3]
    assert {(path, service) for path, service, _ in handler.spans} == {("/v1/traces", "edge-a")}


def test_traces_without_the_sdk_is_a_clear_error(http_guest: Path, tmp_path: Path) -> None:
    r = up_without("opentelemetry", http_guest, tmp_path, "--traces")
    assert r.returncode == 64, r.stderr
    assert "wasmhive[otel]" in r.stderr and "Traceback" not in r.stderr
