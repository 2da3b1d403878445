"""Autoscaling on request queueing: each worker's requests in flight shared with the supervisor
(`http/_inflight.py`), the decision on them, and a real `wasmhive up` growing under a load of sleeping
requests (CPU stays low) and shrinking back when idle."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster_fixtures import up_guest
from wasmhive.errors import ConfigError
from wasmhive.http._autoscale import AutoscalePolicy, Autoscaler
from wasmhive.http._inflight import InFlight, request_seconds

pytest_plugins = ("http_fixtures",)


def test_request_seconds_integrate_the_requests_in_flight(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()

    layer = InFlight(slow, str(tmp_path))
    pid = os.getpid()
    assert request_seconds(str(tmp_path), pid) == 0.0

    async def scenario() -> tuple[float, float]:
        tasks = [asyncio.create_task(layer({"type": "http"}, None, None)) for _ in range(3)]
        await asyncio.sleep(0.3)  # three requests held for 0.3 s: ~0.9 request-seconds
        during = request_seconds(str(tmp_path), pid)
        release.set()
        await asyncio.gather(*tasks)
        done = request_seconds(str(tmp_path), pid)
        await asyncio.sleep(0.2)  # nothing in flight: the integral stands still
        later = request_seconds(str(tmp_path), pid)
        assert done is not None and later is not None and later == pytest.approx(done, abs=1e-6)
        assert during is not None
        return during, done

    during, done = asyncio.run(scenario())
    assert 0.85 <= during <= done < 1.5, (during, done)
    assert request_seconds(str(tmp_path), 2**22 + 12345) is None  # a worker that never reported


def test_lifespan_and_other_scopes_are_not_counted(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.2)

    layer = InFlight(app, str(tmp_path))
    asyncio.run(layer({"type": "lifespan"}, None, None))
    assert request_seconds(str(tmp_path), os.getpid()) == 0.0


def test_queueing_alone_adds_workers_and_both_signals_must_be_low_to_remove() -> None:
    policy = AutoscalePolicy(1, 3, high=0.75, low=0.25, up_after=2.0, down_after=4.0, cooldown=1.0,
                             queue_high=4.0, queue_low=1.0)
    scaler, workers, changes = Autoscaler(policy), 1, []
    # 8 sleeping requests in flight on 1 worker, CPU nearly idle: up at 2 s; then 4 per worker is not
    # above `queue_high`; then queueing drops but CPU is busy (0.5: between the CPU thresholds), no
    # removal; then both are low: one removed 4 s later, the next 4 s after that.
    samples = [(t * 0.5, 0.05) for t in range(0, 12)] + [(6 + t * 0.5, 0.5) for t in range(0, 20)]
    samples += [(16 + t * 0.5, 0.05) for t in range(0, 40)]
    for now, cpu in samples:
        queue = 8.0 / workers if now < 6 else (0.5 if now < 16 else 0.2)
        step = scaler.observe(now, cpu, workers, queue)
        if step:
            workers += step
            changes.append((now, workers))
    assert changes == [(2.0, 2), (20.0, 1)]


def test_the_queue_threshold_follows_the_threads_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    p = AutoscalePolicy.from_env(1, 3, threads=6)
    assert (p.queue_high, p.queue_low) == (6.0, 1.5)
    monkeypatch.setenv("WASMHIVE_AUTOSCALE_QUEUE_HIGH", "2.5")
    assert AutoscalePolicy.from_env(1, 3, threads=6).queue_high == 2.5
    monkeypatch.setenv("WASMHIVE_AUTOSCALE_QUEUE_LOW", "lots")
    with pytest.raises(ConfigError, match="WASMHIVE_AUTOSCALE_QUEUE_LOW='lots': not a number"):
        AutoscalePolicy.from_env(1, 3, threads=6)


_CHANGE = re.compile(r"autoscale: (\d) -> (\d) workers \(per worker: CPU ([\d.]+), ([\d.]+) requests")


def _changes(log: str) -> list[tuple[int, int, float, float]]:
    """The autoscaler's changes so far: (from, to, CPU per worker, requests in flight per worker)."""
    return [(int(a), int(b), float(c), float(q)) for a, b, c, q in _CHANGE.findall(log)]


def _wait_for(up: Any, workers: int, what: str) -> None:
    deadline = time.monotonic() + 90
    while not any(to == workers for _, to, _, _ in _changes(up.log_text())):
        assert time.monotonic() < deadline, what + "\n" + up.log_text()
        time.sleep(0.25)


@pytest.mark.slow
def test_up_adds_workers_for_sleeping_requests_and_retires_them_when_idle(http_guest: Path, compile_cache: Path,
                                                                         tmp_path: Path) -> None:
    # CPU thresholds out of reach: only queueing can add a worker. Two guest threads per worker; each
    # request sleeps 1 s in the guest (a `wasi:clocks` poll), holding a thread but no CPU.
    env = {"WASMHIVE_AUTOSCALE_HIGH": "50", "WASMHIVE_AUTOSCALE_LOW": "50", "WASMHIVE_AUTOSCALE_UP_AFTER": "1",
           "WASMHIVE_AUTOSCALE_DOWN_AFTER": "2", "WASMHIVE_AUTOSCALE_COOLDOWN": "1"}
    with up_guest(http_guest, compile_cache, tmp_path, "--workers", "1", "--workers-max", "3", "--threads", "2",
                  env=env) as up:
        up.wait_ready()
        stop = threading.Event()
        answers: list[int] = []

        def client() -> None:
            with httpx.Client(base_url=up.url, timeout=60) as c:
                while not stop.is_set():
                    answers.append(c.get("/stream", params={"n": "1", "delay": "1000"}).status_code)

        clients = [threading.Thread(target=client, daemon=True) for _ in range(8)]
        t0 = time.monotonic()
        for t in clients:
            t.start()
        try:
            _wait_for(up, 3, "no workers were added for queueing")
            reaction = time.monotonic() - t0
        finally:
            stop.set()
            for t in clients:
                t.join(60)
        assert answers and set(answers) == {200}, answers
        _wait_for(up, 1, "idle workers were not retired")
        changes = _changes(up.log_text())
        assert [(a, b) for a, b, _, _ in changes] == [(1, 2), (2, 3), (3, 2), (2, 1)], changes
        for _, _, cpu, queue in changes[:2]:
            assert cpu < 0.5 and queue > 2.0, changes  # added for queueing, not for CPU
        print(f"\nscale-up to 3 workers under 8 sleeping clients: {reaction:.1f} s; changes: {changes}")


def test_a_worker_that_cannot_report_still_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from wasmhive.http._inflight import LOAD_DIR_ENV
    from wasmhive.http._ops import wrap

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    monkeypatch.setenv(LOAD_DIR_ENV, str(tmp_path / "gone"))  # the load directory is not there
    wrapped = wrap(app, SimpleNamespace())
    assert wrapped.app is app  # Health around the app itself, no InFlight layer
    assert "cannot report requests in flight" in caplog.text
    monkeypatch.setenv(LOAD_DIR_ENV, str(tmp_path))
    assert isinstance(wrap(app, SimpleNamespace()).app, InFlight)
