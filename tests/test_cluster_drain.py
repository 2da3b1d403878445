"""Readiness, liveness and the graceful drain on SIGTERM, with a real `wasmhive up` process on loopback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from cluster_fixtures import LIVE, READY, up_guest

pytest_plugins = ("http_fixtures",)
pytestmark = pytest.mark.slow


def _stream_in_background(url: str, result: dict[str, object]) -> threading.Thread:
    """GET a slow streamed response (30 chunks, 100 ms apart) in a thread; `result["started"]` is set once
    the first bytes arrived, then `status`/`body` or `error`."""
    started = threading.Event()
    result["started"] = started

    def get() -> None:
        try:
            with httpx.stream("GET", url + "/stream?n=30&delay=100", timeout=30) as r:
                parts = []
                for chunk in r.iter_bytes():
                    parts.append(chunk)
                    started.set()
                result["status"], result["body"] = r.status_code, b"".join(parts)
        except httpx.HTTPError as e:
            result["error"] = repr(e)
        finally:
            started.set()

    t = threading.Thread(target=get, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_in_flight_refuses_new_and_exits(workers: int, http_guest: Path, compile_cache: Path,
                                                        tmp_path: Path) -> None:
    with up_guest(http_guest, compile_cache, tmp_path,
                  "--workers", str(workers), "--timeout", "20s", "--drain-delay", "1s", "--drain-timeout", "15s") as up:
        up.wait_ready()
        assert httpx.get(up.url + LIVE, timeout=5).text == "live\n"
        result: dict[str, object] = {}
        slow = _stream_in_background(up.url, result)
        assert result["started"].wait(20)  # type: ignore[attr-defined]
        assert "error" not in result, result
        t_term = time.monotonic()
        up.term()

        # During --drain-delay: not ready, but still serving (health checks take the node out first).
        r = httpx.get(up.url + READY, timeout=5)
        assert (r.status_code, r.text) == (503, "draining\n")
        assert httpx.get(up.url + LIVE, timeout=5).status_code == 200
        assert httpx.get(up.url + "/hello", timeout=5).text == "Hello from Python!\n"

        # Then the socket closes: a new connection is refused while the slow request is still running.
        refused = False
        while slow.is_alive() and not refused:
            try:
                httpx.get(up.url + "/hello", timeout=5)
                time.sleep(0.05)
            except httpx.ConnectError:
                refused = True
        assert refused, "new connections were still accepted after the drain delay\n" + up.log_text()
        assert slow.is_alive(), "the slow request ended before the socket closed: the test proves nothing"

        # The in-flight request completes, whole, and the process exits within the bound.
        slow.join(30)
        assert result.get("status") == 200, (result, up.log_text())
        assert result["body"] == b"".join(f"chunk {i}\n".encode() for i in range(30))
        up.proc.wait(timeout=30)
        assert time.monotonic() - t_term < 1 + 15 + 10  # drain delay + drain timeout + process teardown


def test_drain_timeout_cancels_a_request_that_outlives_it(http_guest: Path, compile_cache: Path,
                                                         tmp_path: Path) -> None:
    # The guest's own deadline (60 s) is far past the drain bound (1 s): only the drain can end it.
    with up_guest(http_guest, compile_cache, tmp_path, "--timeout", "60s", "--drain-timeout", "1s") as up:
        up.wait_ready()
        errors: list[str] = []

        def spin() -> None:
            try:
                errors.append(f"status {httpx.get(up.url + '/loop', timeout=60).status_code}")
            except httpx.HTTPError as e:
                errors.append(repr(e))

        t = threading.Thread(target=spin, daemon=True)
        t.start()
        time.sleep(1.0)  # the request is running in the guest
        up.term()
        up.proc.wait(timeout=30)  # well before the guest's 60 s deadline
        t.join(10)
        # A 5xx or a dropped connection: never a success for a request the guest never finished.
        assert errors and not errors[0].startswith("status 2"), errors
        assert "Cancel 1 running task(s)" in up.log_text()


def test_readiness_before_start_and_unknown_paths_pass_through(http_guest: Path, compile_cache: Path,
                                                               tmp_path: Path) -> None:
    with up_guest(http_guest, compile_cache, tmp_path) as up:
        up.wait_ready()
        r = httpx.get(up.url + READY, timeout=5)
        assert (r.status_code, r.headers["cache-control"]) == (200, "no-store")
        # Other well-known paths are still the app's (the router's own health path stays as it was).
        assert httpx.get(up.url + "/.well-known/wasmhive/health", timeout=5).status_code == 200
        assert httpx.get(up.url + "/headers", timeout=5).status_code == 200
