"""Prometheus `/metrics` of a real `wasmhive up --metrics` process, after real requests (1 and 2 workers)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest

from cluster_fixtures import up_guest, up_without

pytest_plugins = ("http_fixtures",)
pytestmark = pytest.mark.slow

prometheus_parser = pytest.importorskip("prometheus_client.parser")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in prometheus_parser.text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_what_was_sent(workers: int, http_guest: Path, compile_cache: Path, tmp_path: Path) -> None:
    with up_guest(http_guest, compile_cache, tmp_path,
                  "--workers", str(workers), "--timeout", "3s", "--metrics") as up:
        up.wait_ready()
        comp = http_guest.stem
        # A new connection per request, so with 2 workers the kernel spreads them over both.
        with httpx.Client(base_url=up.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            assert [c.get("/hello").status_code for _ in range(7)] == [200] * 7
            assert [c.get("/trap").status_code for _ in range(3)] == [500] * 3
            assert [c.post("/status/204").status_code for _ in range(2)] == [204] * 2
            assert c.get("/loop").status_code == 504
            assert c.get("/hello", headers={"x-big": "a" * 20000}).status_code == 431
        # 413 from a declared length, answered before any body is sent (a raw socket: clients insist on
        # sending the body they declared).
        with socket.create_connection(("127.0.0.1", int(up.url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 20000000\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")

        # One request still streaming (2 s, inside the 3 s deadline) while we scrape: the in-flight gauge
        # must show it.
        started, finish = threading.Event(), threading.Event()

        def slow() -> None:
            with httpx.stream("GET", up.url + "/stream?n=40&delay=50", timeout=30) as r:
                for _ in r.iter_bytes():
                    started.set()
            finish.set()

        threading.Thread(target=slow, daemon=True).start()
        assert started.wait(20)
        # Several scrapes: with 2 workers each may land on either; every one must see the whole node.
        scrapes = []
        for _ in range(4 if workers > 1 else 1):
            r = httpx.get(up.url + "/metrics", timeout=10)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            scrapes.append(_samples(r.text))
        assert finish.wait(30)

    for s in scrapes:
        def v(name: str, s: dict = s, **labels: str) -> float:  # type: ignore[type-arg]
            return _value(s, name, **labels)

        req = "wasmhive_requests_total"
        assert v(req, route="/...", component=comp, method="GET", status="200") == 7
        assert v(req, route="/...", component=comp, method="GET", status="500") == 3
        assert v(req, route="/...", component=comp, method="POST", status="204") == 2
        assert v(req, route="/...", component=comp, method="GET", status="504") == 1
        assert v(req, route="", component="", method="GET", status="431") == 1
        assert v(req, route="", component="", method="POST", status="413") == 1
        assert v("wasmhive_request_duration_seconds_count", route="/...", component=comp) == 13
        # Every guest run started an instance: 13 answered plus the one still streaming.
        assert v("wasmhive_instances_started_total", component=comp) == 13
        assert v("wasmhive_guest_failures_total", component=comp, kind="trap") == 3
        assert v("wasmhive_guest_failures_total", component=comp, kind="deadline") == 1
        assert v("wasmhive_requests_in_flight") == 1
        assert v("wasmhive_workers") == workers  # a live gauge summed over the workers' files
        lookups = v("wasmhive_compile_cache_lookups_total", result="hit") + \
            v("wasmhive_compile_cache_lookups_total", result="miss")
        assert lookups >= workers  # each worker loaded the component through the cache


def test_metrics_are_off_by_default(http_guest: Path, compile_cache: Path, tmp_path: Path) -> None:
    with up_guest(http_guest, compile_cache, tmp_path) as up:
        up.wait_ready()
        # Without --metrics the path is the app's own: the guest answers it (its catch-all 404 here).
        r = httpx.get(up.url + "/metrics", timeout=10)
        assert "wasmhive_requests_total" not in r.text


def test_metrics_without_prometheus_client_is_a_clear_error(http_guest: Path, tmp_path: Path) -> None:
    r = up_without("prometheus_client", http_guest, tmp_path, "--metrics")
    assert r.returncode == 64, r.stderr
    assert "wasmhive[metrics]" in r.stderr and "Traceback" not in r.stderr
