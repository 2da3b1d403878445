"""`wasmhive up --workers N`: each worker process pins itself to its own CPU (`server/_affinity.py`).

Real `wasmhive up` processes over loopback; the CPUs each worker (and every one of its threads, guest
threads included) may run on are read from /proc. A worker that dies is replaced by uvicorn's supervisor
and the replacement takes the freed slot, so the workers stay spread; `WASMHIVE_PIN_WORKERS=0` leaves
them unpinned, as is a single worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytest_plugins = ("http_fixtures",)
pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux CPU affinity")
CPUS = sorted(os.sched_getaffinity(0))


def _cpus_of(pid: int) -> set[frozenset[int]]:
    """The CPU sets of every thread of process `pid` (one set when they all agree)."""
    out = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue
        line = next(ln for ln in text.splitlines() if ln.startswith("Cpus_allowed_list:"))
        cpus: set[int] = set()
        for part in line.split(":", 1)[1].strip().split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
        out.add(frozenset(cpus))
    return out


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under the `wasmhive up` process `pid` (spawned interpreters)."""
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids
            if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]


@contextmanager
def _up(guest: Path, compile_cache: Path, tmp_path: Path, workers: int, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    # imported here: pytest loads it as a plugin first (assertion rewriting)
    from http_fixtures import free_port

    port = free_port()
    exe = Path(sys.executable).parent / "wasmhive"
    log = tmp_path / f"up-{port}.log"
    full_env = {**os.environ, "WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp_path), **env}
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "up", "-q", str(guest), "--listen", f"127.0.0.1:{port}", "--workers",
                                 str(workers)], env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while (workers > 1 and len(_workers(proc.pid)) < workers) or not _serves(url):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "wasmhive up did not start: " + log.read_text()
            time.sleep(0.2)
        yield proc, url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _serves(url: str) -> bool:
    try:
        return httpx.get(f"{url}/hello", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _pinned(pid: int) -> int:
    """The one CPU every thread of worker `pid` is pinned to, once it has started (a worker pins itself
    before it builds the app; another worker may already be serving)."""
    deadline = time.monotonic() + 30
    while True:
        sets = _cpus_of(pid)
        if len(sets) == 1 and len(next(iter(sets))) == 1:
            return next(iter(next(iter(sets))))
        assert time.monotonic() < deadline, f"worker {pid} is not pinned to one CPU: {sets}"
        time.sleep(0.2)


def test_each_worker_gets_its_own_cpu_and_a_replacement_takes_the_freed_one(
        http_guest: Path, compile_cache: Path, tmp_path: Path) -> None:
    with _up(http_guest, compile_cache, tmp_path, 2) as (proc, url):
        workers = _workers(proc.pid)
        pinned = {w: _pinned(w) for w in workers}
        for _ in range(8):  # and guest threads started after the pinning inherit it
            assert httpx.get(f"{url}/hello", timeout=5).status_code == 200
        assert {w: _pinned(w) for w in workers} == pinned
        assert sorted(pinned.values()) == sorted({CPUS[0], CPUS[1 % len(CPUS)]}) or len(CPUS) == 1, pinned

        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = _workers(proc.pid)
            if len(now) == 2 and victim not in now and _serves(url):
                break
            assert time.monotonic() < deadline, "the supervisor did not replace the killed worker"
            time.sleep(0.2)
        (new,) = set(now) - set(workers)
        assert _pinned(new) == pinned[victim]  # the freed slot, the freed CPU


@pytest.mark.parametrize(("workers", "env"), [(2, {"WASMHIVE_PIN_WORKERS": "0"}), (1, {})])
def test_one_worker_or_pinning_off_leaves_every_cpu(http_guest: Path, compile_cache: Path, tmp_path: Path,
                                                     workers: int, env: dict[str, str]) -> None:
    with _up(http_guest, compile_cache, tmp_path, workers, **env) as (proc, url):
        assert httpx.get(f"{url}/hello", timeout=5).status_code == 200
        for pid in _workers(proc.pid) or [proc.pid]:
            assert _cpus_of(pid) == {frozenset(CPUS)}
