"""Worker autoscaling (`--workers MIN --workers-max MAX`): the decision with hysteresis, and a real
`wasmhive up` growing under CPU load and shrinking back when idle."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from cluster_fixtures import up_guest
from wasmhive.http._autoscale import AutoscalePolicy, Autoscaler, cpu_seconds

pytest_plugins = ("http_fixtures",)


def _run(scaler: Autoscaler, samples: list[tuple[float, float]], workers: int) -> list[tuple[float, int]]:
    """Feed (time, CPU per worker) samples, applying each step; the (time, workers) after every change."""
    changes = []
    for now, cpu in samples:
        step = scaler.observe(now, cpu, workers)
        if step:
            workers += step
            changes.append((now, workers))
    return changes


def test_scales_up_after_the_window_and_down_after_the_longer_one() -> None:
    policy = AutoscalePolicy(1, 3, high=0.75, low=0.25, up_after=3.0, down_after=10.0, cooldown=2.0)
    busy = [(t * 0.5, 0.9) for t in range(0, 20)]          # 10 s busy
    idle = [(10 + t * 0.5, 0.05) for t in range(0, 60)]    # then 30 s idle
    changes = _run(Autoscaler(policy), busy + idle, workers=1)
    # Up once 3 s above `high` (t=3); the next window starts with the next sample (3.5), so up again at
    # 6.5, then capped at 3; down only after 10 s below `low` (t=20), again 10 s after that, never under 1.
    assert changes == [(3.0, 2), (6.5, 3), (20.0, 2), (30.5, 1)]


def test_a_load_hovering_between_the_thresholds_never_flaps() -> None:
    policy = AutoscalePolicy(1, 4, high=0.75, low=0.25, up_after=3.0, down_after=10.0, cooldown=2.0)
    # Spikes above `high` shorter than the window, dips below `low` shorter than theirs.
    hover = [(t * 0.5, 0.8 if t % 5 == 0 else 0.2 if t % 7 == 0 else 0.5) for t in range(200)]
    assert _run(Autoscaler(policy), hover, workers=2) == []


def test_cpu_seconds_reads_a_real_process() -> None:
    import os

    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = cpu_seconds(os.getpid())
    assert before is not None and after is not None and after - before >= 0.1
    assert cpu_seconds(2**22 + 12345) is None  # no such process


def _workers(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    m = re.search(r"^wasmhive_workers (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.slow
def test_up_adds_a_worker_under_load_and_retires_it_when_idle(http_guest: Path, compile_cache: Path,
                                                              tmp_path: Path) -> None:
    env = {"WASMHIVE_AUTOSCALE_HIGH": "0.5", "WASMHIVE_AUTOSCALE_LOW": "0.1", "WASMHIVE_AUTOSCALE_UP_AFTER": "1",
           "WASMHIVE_AUTOSCALE_DOWN_AFTER": "2", "WASMHIVE_AUTOSCALE_COOLDOWN": "1"}
    with up_guest(http_guest, compile_cache, tmp_path, "--workers", "1", "--workers-max", "2", "--timeout", "1s",
                  "--metrics", env=env) as up:
        up.wait_ready()
        assert _workers(up.url) == 1
        stop = threading.Event()
        answers: list[int] = []

        def burn() -> None:  # each request spins in the guest until its 1 s deadline (504)
            with httpx.Client(base_url=up.url, timeout=30) as c:
                while not stop.is_set():
                    answers.append(c.get("/loop").status_code)

        threads = [threading.Thread(target=burn, daemon=True) for _ in range(3)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        try:
            deadline = t0 + 60
            while _workers(up.url) < 2:
                assert time.monotonic() < deadline, "no worker was added under load\n" + up.log_text()
                time.sleep(0.25)
            reaction = time.monotonic() - t0
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert set(answers) <= {504}, answers  # the load itself was served throughout
        deadline = time.monotonic() + 60
        while _workers(up.url) > 1:
            assert time.monotonic() < deadline, "the idle worker was not retired\n" + up.log_text()
            time.sleep(0.25)
        log = up.log_text()
        assert "autoscale: 1 -> 2 workers" in log and "autoscale: 2 -> 1 workers" in log
        print(f"\nscale-up reaction to a load step: {reaction:.1f} s (up_after=1 s)")


def test_workers_max_below_workers_is_a_clear_error(http_guest: Path) -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "wasmhive"
    r = subprocess.run([str(exe), "up", str(http_guest), "--workers", "3", "--workers-max", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and "--workers-max 2 is below --workers 3" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
