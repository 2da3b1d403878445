"""Cold-start benchmark: what the first request costs after scale-to-zero (`wasmhive up --idle-unload`),
next to a warm request and to the very first start of a node.

For each guest (the componentize-py hello, ~18 MB, and the tiny WAT `wasi:http` component), each round:

1. first start, empty compile cache: `wasmhive up GUEST` launched with a fresh `$WASMHIVE_CACHE`; seconds
   from launching the process to the first 200 answer (compiles the component);
2. first start, warm compile cache: the same again with the cache just filled (loads it);
3. warm request: a GET on a new connection while the component is loaded (median of several);
4. first request after unload: wait until the node logs that the idle component was unloaded
   (`--idle-unload 1s`), then one GET on a new connection (it re-prepares the component: load from
   the compile cache, link, pre-flight instantiation); several unload cycles per round. The node's own
   log line gives the re-preparation alone ("prepared again after idle: N ms").

Medians over the rounds, all measured in this run; nothing asserts speed. One worker, loopback.

    python benchmarks/coldstart.py            # 3 rounds, 3 unload cycles and 10 warm requests each
    python benchmarks/coldstart.py --quick    # 1 round (smoke run)
    python benchmarks/coldstart.py --only tiny --json out.json
"""

from __future__ import annotations

import sys

# Run as a script, this directory is sys.path[0]: keep it off the import path (a benchmark module must never shadow a stdlib name).
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]) and __name__ == "__main__":
    sys.path.pop(0)

import argparse
import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"
sys.path.append(str(HERE))

from _harness import fmt_time, median, stop_group, table  # noqa: E402


def guests() -> dict[str, Path]:
    """The two guests as components (built once, cached by source hash in benchmarks/.build)."""
    from wasmhive.app.toolchains import component_new, componentize_py, standard_wit

    BUILD.mkdir(exist_ok=True)
    wit = standard_wit("wasi:http@0.2.0")
    return {
        "componentize-py hello": componentize_py(wit, "wasi:http/proxy@0.2.0", HERE / "guests" / "http_hello" /
                                                 "app.py", cache_dir=BUILD),
        "tiny WAT": component_new(HERE / "guests" / "http_tiny" / "tiny.wat", wit=wit,
                                  world="wasi:http/proxy@0.2.0", adapter=None, cache_dir=BUILD),
    }


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, timeout: float = 30.0) -> int:
    """One GET / on a new connection; the status (the body is read to the end)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class Node:
    """A running `wasmhive up GUEST --idle-unload 1s`, its port and log."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path, started: float) -> None:
        self.proc, self.port, self.log, self.started = proc, port, log, started

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def first_answer(self, timeout: float = 300.0) -> float:
        """Seconds from launching the process to its first 200."""
        while True:
            with contextlib.suppress(OSError):
                if get(self.port, timeout=timeout) == 200:
                    return time.perf_counter() - self.started
            if self.proc.poll() is not None:
                raise RuntimeError("wasmhive up exited:\n" + self.text())
            if time.perf_counter() - self.started > timeout:
                raise RuntimeError("wasmhive up did not answer:\n" + self.text())
            time.sleep(0.01)

    def wait_unloaded(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count("unloaded after") < count:
            if time.monotonic() > deadline:
                raise RuntimeError("the component was not unloaded:\n" + self.text())
            time.sleep(0.05)


@contextlib.contextmanager
def node(guest: Path, cache: Path, log: Path) -> Iterator[Node]:
    port = _port()
    exe = Path(sys.executable).parent / "wasmhive"
    env = {**os.environ, "WASMHIVE_CACHE": str(cache)}
    with log.open("wb") as out:
        started = time.perf_counter()
        # JSON logs: the INFO records of unloading and re-preparing are written.
        proc = subprocess.Popen([str(exe), "up", str(guest), "--listen", f"127.0.0.1:{port}", "--idle-unload", "1s",
                                 "--log-format", "json"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield Node(proc, port, log, started)
    finally:
        stop_group(proc)


def measure_guest(guest: Path, rounds: int, cycles: int, warm_requests: int, work: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"first_start_compile": [], "first_start_cached": [], "warm_request": [],
                                   "after_unload_request": [], "after_unload_prepare": []}
    for r in range(rounds):
        cache = work / f"cache-{guest.stem}-{r}"
        with node(guest, cache, work / "compile.log") as n:
            out["first_start_compile"].append(n.first_answer())
        with node(guest, cache, work / "cached.log") as n:
            out["first_start_cached"].append(n.first_answer())
            warm = []
            for _ in range(warm_requests):
                t0 = time.perf_counter()
                assert get(n.port) == 200
                warm.append(time.perf_counter() - t0)
            out["warm_request"].append(median(warm))
            for c in range(1, cycles + 1):
                n.wait_unloaded(c)
                t0 = time.perf_counter()
                assert get(n.port) == 200
                out["after_unload_request"].append(time.perf_counter() - t0)
            prepared = re.findall(r"prepared again after idle: ([\d.]+) ms", n.text())
            out["after_unload_prepare"] += [float(ms) / 1e3 for ms in prepared]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, one unload cycle (smoke run)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", default="", help="only the guests whose name contains this (e.g. tiny)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw samples here")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    cycles, warm_requests = (1, 3) if args.quick else (3, 10)
    results = {}
    with tempfile.TemporaryDirectory(prefix="wasmhive-coldstart-") as tmp:
        for name, guest in guests().items():
            if args.only not in name:
                continue
            results[name] = measure_guest(guest, rounds, cycles, warm_requests, Path(tmp))
    rows = []
    for name, res in results.items():
        warm = median(res["warm_request"])
        for key, label in (("first_start_compile", "first start, empty compile cache"),
                           ("first_start_cached", "first start, warm compile cache"),
                           ("after_unload_request", "first request after idle unload"),
                           ("after_unload_prepare", "  of which re-preparation (node log)"),
                           ("warm_request", "warm request")):
            m = median(res[key])
            rows.append([f"{name}: {label}", str(len(res[key])), fmt_time(m), f"{m / warm:.1f}x"])
    print(table(f"Cold start vs warm ({rounds} rounds; medians; one worker; {os.cpu_count()} CPUs, shared)",
                ["", "samples", "median", "x warm"], rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
