"""Capability metrics in `/metrics`: key-value and outbound HTTP calls of real guests, counted by outcome
and timed, scraped over loopback after known calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app_fixtures import free_port, spin_sdk_example
from wasmhive.http import HttpApp, ServerLimits
from wasmhive.http._metrics import Metrics

pytest_plugins = ("http_fixtures",)

parser = pytest.importorskip("prometheus_client.parser")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parser.text_string_to_metric_families(text) for s in family.samples}


def _calls(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], capability: str) -> dict[tuple[str, str], float]:
    """{(op, outcome): count} of one capability."""
    out = {}
    for (name, labels), value in samples.items():
        d = dict(labels)
        if name == "wasmhive_capability_calls_total" and d["capability"] == capability:
            out[(d["op"], d["outcome"])] = value
    return out


def _timed(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], capability: str, op: str) -> float:
    key = ("wasmhive_capability_call_duration_seconds_count", (("capability", capability), ("op", op)))
    return samples.get(key, 0.0)


@pytest.fixture(scope="module")
def spin_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return spin_sdk_example(tmp_path_factory.mktemp("spinsdk"))


def test_key_value_calls_are_counted(spin_app: Path, http_runtime: Any, serve_app: Any) -> None:
    from wasmhive.app import App

    with App.load(spin_app, runtime=http_runtime) as app, app.http_app(close_app=False) as http:
        metered = Metrics(http.asgi(), http)
        with serve_app(metered) as url, httpx.Client(base_url=url, timeout=30) as c:
            before = _samples(c.get("/metrics").text)
            assert _calls(before, "key_value") == {}
            # Each request opens the default store, gets and sets "count".
            assert [c.get("/spin/x").text.split()[-3] for _ in range(3)] == ["#1", "#2", "#3"]
            after = _samples(c.get("/metrics").text)
    assert _calls(after, "key_value") == {("open", "ok"): 3, ("get", "ok"): 3, ("set", "ok"): 3}
    assert [_timed(after, "key_value", op) for op in ("open", "get", "set")] == [3, 3, 3]
    assert _calls(after, "outbound_http") == {}


def test_outbound_calls_are_counted_by_outcome(new_executor: Any, outbound_target: str, serve_app: Any) -> None:
    from wasmhive.capabilities.outbound_http import OutboundPolicy

    closed = f"http://127.0.0.1:{free_port()}"  # allowed, but nothing listens there
    ex = new_executor(outbound=OutboundPolicy.parse([outbound_target, closed]))
    with HttpApp([("/...", ex)], limits=ServerLimits(threads=2)) as http:
        metered = Metrics(http.asgi(), http)
        with serve_app(metered) as url, httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(2):
                assert c.get("/outbound", params={"url": f"{outbound_target}/x"}).text.startswith("200\n")
            assert c.get("/outbound", params={"url": f"{closed}/x"}).text == "error: ErrorCode_ConnectionRefused"
            assert c.get("/outbound", params={"url": "http://example.invalid/"}).text == \
                "error: ErrorCode_HttpRequestDenied"
            samples = _samples(c.get("/metrics").text)
    assert _calls(samples, "outbound_http") == {("GET", "ok"): 2, ("GET", "connection-refused"): 1,
                                                  ("GET", "HTTP-request-denied"): 1}
    assert _timed(samples, "outbound_http", "GET") == 4
    # The call latency is inside the request's: the histogram sums agree in order.
    call_sum = samples[("wasmhive_capability_call_duration_seconds_sum",
                        (("capability", "outbound_http"), ("op", "GET")))]
    req_sum = sum(v for (name, _), v in samples.items() if name == "wasmhive_request_duration_seconds_sum")
    assert 0 < call_sum < req_sum
