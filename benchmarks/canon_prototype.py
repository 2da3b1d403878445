"""Canon prototype benchmark (issue 12): today's `wasi:http` path vs the canon engine, in one run.

    .venv/bin/python benchmarks/canon_prototype.py            # full run (~1-2 min)
    .venv/bin/python benchmarks/canon_prototype.py --quick    # smoke run

In-process, one request at a time through `HttpApp.handle` (so each request pays instantiate + handle +
store drop, and the Python serving path), on the same `Runtime` (pooling allocator, like `wasmhive up`):
  - today: `WasiHttpExecutor` (wasmtime's component C API, `component/_lift.py`/`_lower.py` converters),
  - canon: `CanonHttpExecutor` (core instances, the canonical ABI in `wasmhive.canon`),
for the tiny WAT guest (`tests/canon/tiny.wat`) and the componentize-py hello (`benchmarks/guests/
http_hello`): GET (µs/request, requests/s) and a 1 MiB POST echo (MB/s). The two paths alternate in
rounds so a change in machine load hits both. Prints medians, ratios (canon / today) and `uptime`.
Nothing here asserts speed.
"""

from __future__ import annotations

import sys

# Run as a script, this directory is sys.path[0]: keep it off the import path (a benchmark module must never shadow a stdlib name).
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]) and __name__ == "__main__":
    sys.path.pop(0)

import argparse
import gc
import logging
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
TINY = ROOT / "tests" / "canon" / "tiny.wat"
MIB = 1 << 20


def build_componentize_py() -> Path:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    (HERE / ".build").mkdir(exist_ok=True)
    return componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0",
                           HERE / "guests" / "http_hello" / "app.py", cache_dir=HERE / ".build")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime: unavailable"


def timed(app: Any, req: Any, n: int, check: Any) -> list[float]:
    out = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            t = time.perf_counter()
            resp = app.handle(req)
            out.append(time.perf_counter() - t)
            check(resp)
    finally:
        gc.enable()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few requests per case (smoke run)")
    args = ap.parse_args()
    logging.getLogger("wasmhive.http.access").setLevel(logging.WARNING)

    from wasmhive.canon import CanonHttpExecutor
    from wasmhive.http import HttpApp
    from wasmhive.http._engine_settings import pool_max_memory
    from wasmhive.http._executor import WasiHttpExecutor
    from wasmhive.http._types import Request
    from wasmhive.runtime import Runtime

    rounds, get_n, echo_n = (2, 20, 2) if args.quick else (5, 200, 6)
    print(f"before: {uptime()}", flush=True)
    # The engine `wasmhive up` serves with: pooling allocator, 4 GiB slots, 20 ms epoch tick.
    rt = Runtime(pooling=True, pooling_max_memory=pool_max_memory(128 * MIB), tick=0.02)
    guests = {"tiny WAT": TINY, "componentize-py hello": build_componentize_py()}
    body = os.urandom(MIB)
    get = Request("GET", "/", headers=[("host", "bench")])
    echo = Request("POST", "/echo", headers=[("host", "bench"), ("content-length", str(MIB))], body=body)

    def ok_get(r: Any) -> None:
        assert r.status == 200 and r.body, (r.status, r.body[:80])

    def ok_echo(r: Any) -> None:
        assert r.status == 200 and r.body == body, (r.status, len(r.body))

    results: dict[tuple[str, str, str], list[float]] = {}
    for gname, path in guests.items():
        apps = {
            "today": HttpApp([("/...", WasiHttpExecutor(rt, path, name="today"))]),
            "canon": HttpApp([("/...", CanonHttpExecutor(rt, path, name="canon"))]),
        }
        for app in apps.values():  # warm-up: first-request costs (lazy converters, page faults) excluded
            for _ in range(3):
                ok_get(app.handle(get))
            ok_echo(app.handle(echo))
        for _ in range(rounds):
            for pname, app in apps.items():
                results.setdefault((gname, "GET", pname), []).extend(timed(app, get, get_n // rounds or 1, ok_get))
                results.setdefault((gname, "echo", pname), []).extend(
                    timed(app, echo, max(1, echo_n // rounds), ok_echo))
        for app in apps.values():
            app.close()

    print(f"after:  {uptime()}")
    print(f"\nwasmtime-py {_version()}, {os.cpu_count()} CPUs, in-process, one request at a time, "
          f"{rounds} alternating rounds\n")
    print(f"{'guest':24} {'case':5} {'today':>14} {'canon':>14} {'canon/today':>12}")
    for gname in guests:
        t_get = statistics.median(results[(gname, "GET", "today")])
        c_get = statistics.median(results[(gname, "GET", "canon")])
        print(f"{gname:24} {'GET':5} {t_get * 1e6:10.0f} µs {c_get * 1e6:10.0f} µs {t_get / c_get:11.2f}x  "
              f"({1 / t_get:,.0f} vs {1 / c_get:,.0f} req/s)")
        t_echo = statistics.median(results[(gname, "echo", "today")])
        c_echo = statistics.median(results[(gname, "echo", "canon")])
        print(f"{gname:24} {'echo':5} {MIB / t_echo / 1e6:9.1f} MB/s {MIB / c_echo / 1e6:9.1f} MB/s "
              f"{t_echo / c_echo:11.2f}x  (1 MiB POST echo, {t_echo * 1e3:.1f} vs {c_echo * 1e3:.1f} ms)")
    print("\nratios > 1: canon is faster (today's time / canon's time)")


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("wasmtime")
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
