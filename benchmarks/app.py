"""App-platform benchmark: the cost of the sandbox over the Python HTTP stack, and key-value throughput.

    .venv/bin/python benchmarks/app.py            # full run (~1 min)
    .venv/bin/python benchmarks/app.py --quick    # smoke run

Measured in one run, one server at a time on loopback (wrk when installed, else a threaded client):
  - a bare uvicorn ASGI "hello" (no Wasm at all: the floor of the Python HTTP stack),
  - the same hello from a C WAGI module on `wasmhive up` (a fresh sandboxed instance per request),
  - `GET /api/hello` of examples/app (Python component: one key-value get, one set, one variable).
Then key-value operations per second through a component, host calls only: a componentize-py guest runs
N get/set calls on Spin's `key-value` interface inside one export call (SQLite, and Redis if installed).
Then outbound Redis set/get per second through a spin-sdk component (`tests/app/redis`, one request running
N pairs on one connection under `wasmhive up`), with redis-py doing the same from Python as the peer.
Then SQLite queries per second through a spin-sdk component, beside the same query without Wasm.
Nothing here asserts speed; it prints what it measured, ratios from the same run.
"""

from __future__ import annotations

import sys

if sys.path and sys.path[0] and __file__.startswith(sys.path[0]) and __name__ == "__main__":
    sys.path.pop(0)  # run as a script: keep this directory off the import path

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
VENV_BIN = Path(sys.executable).parent
ASGI_HELLO = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"14")]})
    await send({"type": "http.response.body", "body": b"Hello from C!\\n"})
"""
WAGI_APP = """
[[trigger.http]]
route = "/..."
component = "hello"
executor = { type = "wagi" }
[component.hello]
source = "hello.wasm"
"""


def _http_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("wasmhive_bench_http", HERE / "http_serve.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def kv_ops_per_second(n: int, redis_url: str | None) -> dict[str, float]:
    """get+set pairs through Spin's key-value interface inside one guest call, per backend."""
    import wasmtime
    import wasmtime.component as wc

    from wasmhive.app import RuntimeOptions, parse_manifest
    from wasmhive.app.toolchains import componentize_py
    from wasmhive.app.witdeps import ensure_wit_deps
    from wasmhive.capabilities import AppCapabilities
    from wasmhive.runtime import Runtime

    probe = ROOT / "tests" / "app" / "kvprobe"
    wit = HERE / ".build" / "kvprobe-wit"
    ensure_wit_deps(wit, ["fermyon:spin@2.0.0"])
    (wit / "probe.wit").write_text((probe / "probe.wit").read_text())
    wasm = componentize_py(wit, "probe", probe / "app.py")
    out: dict[str, float] = {}
    backends = {"sqlite": {}} | ({"redis": {"type": "redis", "url": redis_url, "prefix": "bench:"}} if redis_url else {})
    with Runtime() as rt, tempfile.TemporaryDirectory() as tmp:
        component = rt.load(wasm).component
        for name, spec in backends.items():
            cfg = parse_manifest('[component.p]\nsource = "p.wasm"\nkey_value_stores = ["default"]\n',
                                 Path(tmp) / name / "wasmhive.toml")
            cfg.dir = Path(tmp) / name
            cfg.dir.mkdir()  # the app's state dir (.wasmhive/) is created inside it, not its parents
            cfg.runtime = RuntimeOptions(environ={}, runtime_config={"key_value_store": {"default": spec}} if spec else {})
            caps = AppCapabilities(cfg)
            local = threading.local()
            linker = wc.Linker(rt.engine)
            linker.add_wasip2()
            with linker.root() as root:
                caps.link(root, lambda local=local: local.ctx)
            ops = ["spin-open default"] + [f"spin-{op} default k{i % 100}" + (" v" if op == "set" else "")
                                           for i in range(n) for op in ("set", "get")]
            best = float("inf")
            for _ in range(3):
                store = rt.new_store()
                store.set_wasi(wasmtime.WasiConfig())
                inst = linker.instantiate(store, component)
                func = inst.get_func(store, "run")
                assert func is not None
                local.ctx = caps.instance("p")
                t0 = time.perf_counter()
                func(store, ops)
                best = min(best, time.perf_counter() - t0)
            out[name] = 2 * n / best
            caps.close()
    return out


def redis_ops_per_second(n: int, redis_url: str) -> dict[str, float]:
    """set+get pairs on Spin's outbound `redis` connection inside one request, and the same from redis-py."""
    import httpx
    import redis

    from app_fixtures import Server
    from redis_fixtures import redis_app  # the cached spin-sdk build the tests use

    app_dir = Path(tempfile.mkdtemp(prefix="wasmhive-bench-redis-"))
    manifest = redis_app("redis", app_dir)
    subprocess.run([sys.executable, "-c", f"import wasmhive.app as a; a.App.load({str(manifest)!r}).close()"],
                   check=True)  # compile once: the server starts from the compile cache
    out: dict[str, float] = {}
    server = Server(manifest)
    try:
        server.wait()
        best = float("inf")
        for _ in range(4):  # the first warms the instance pool and the connection pool
            t0 = time.perf_counter()
            r = httpx.get(server.url + "/redis/bench", params={"addr": redis_url, "n": str(n)}, timeout=300)
            best = min(best, time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    finally:
        server.kill()
    out["component (wasmhive up)"] = 2 * n / best
    client = redis.Redis.from_url(redis_url)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(n):
            client.set(f"bench:{i % 100}", b"v")
            client.get(f"bench:{i % 100}")
        best = min(best, time.perf_counter() - t0)
    client.close()
    out["redis-py from Python"] = 2 * n / best
    shutil.rmtree(app_dir, ignore_errors=True)
    return out


def sqlite_queries_per_second(n: int) -> dict[str, float]:
    """Point queries (`SELECT t FROM things WHERE i = ?`) per second on one 1000-row table: through a
    spin-sdk component under `wasmhive up` (n queries in one request, timed in the guest), through the
    host's connection object directly (no Wasm), and from Python's sqlite3 directly (the floor)."""
    import json
    import sqlite3
    import urllib.request

    from sqlite_fixtures import sqlite_app
    from wasmhive.capabilities.sqlite import Database

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spin_toml = sqlite_app(Path(tmp))
        seed = ("CREATE TABLE things (i INTEGER, r REAL, t TEXT, b BLOB, n); CREATE INDEX things_i ON things(i);"
                "WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 999) "
                "INSERT INTO things(i, t) SELECT x, 'row ' || x FROM c")
        port = _http_bench().free_port()
        proc = subprocess.Popen([str(VENV_BIN / "wasmhive"), "up", str(spin_toml), "--listen", f"127.0.0.1:{port}",
                                 "--sqlite", seed, "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(1200):  # the first run compiles the component (~1 min)
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/wasmhive/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            best = min(json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/bench?{n}", timeout=120))["seconds"]
                       for _ in range(3))
            out["component (spin-sdk guest)"] = n / best
        finally:
            proc.terminate()
            proc.wait()
        path = Path(tmp) / ".wasmhive" / "sqlite_db.db"
        conn = Database("default", path).connect()
        t0 = time.perf_counter()
        for k in range(n):
            conn.execute("SELECT t FROM things WHERE i = ?", [k % 1000], None)
        out["host connection (no Wasm)"] = n / (time.perf_counter() - t0)
        conn.close()
        raw = sqlite3.connect(path)
        t0 = time.perf_counter()
        for k in range(n):
            raw.execute("SELECT t FROM things WHERE i = ?", (k % 1000,)).fetchall()
        out["Python sqlite3 directly"] = n / (time.perf_counter() - t0)
        raw.close()
    return out


def start_redis() -> tuple[subprocess.Popen[bytes] | None, str | None]:
    exe = shutil.which("redis-server")
    if exe is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test of the harness)")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    seconds = args.seconds or (2 if args.quick else 10)
    hb = _http_bench()
    load = hb.run_wrk if shutil.which("wrk") else hb.run_python_load
    from wasmhive.app.toolchains import zig_cc

    work = Path(tempfile.mkdtemp(prefix="wasmhive-bench-app-"))
    (work / "asgi_hello.py").write_text(ASGI_HELLO)
    wagi = work / "wagi"
    wagi.mkdir()
    zig_cc(HERE / "guests" / "wagi_hello" / "hello.c", wagi / "hello.wasm")
    (wagi / "wasmhive.toml").write_text(WAGI_APP)
    example = work / "example"
    shutil.copytree(ROOT / "examples" / "app", example, ignore=shutil.ignore_patterns(".wasmhive", "deps", "*.wasm"))
    sys.path.insert(0, str(ROOT / "tests"))
    from app_fixtures import build_example  # the cached builds the tests use

    build_example(example)
    subprocess.run([sys.executable, "-c", f"import wasmhive.app as a; a.App.load({str(example)!r}).close()"],
                   check=True)  # compile once: every server starts from the compile cache
    uvicorn = [sys.executable, "-m", "uvicorn", "--app-dir", str(work), "asgi_hello:app", "--log-level", "warning",
               "--no-access-log", "--host", "127.0.0.1", "--port"]
    up = str(VENV_BIN / "wasmhive")
    targets = [
        ("uvicorn ASGI hello (no Wasm)", lambda p: [*uvicorn, str(p)], "/"),
        ("wasmhive up: C WAGI hello", lambda p: [up, "up", str(wagi), "--listen", f"127.0.0.1:{p}"], "/"),
        ("wasmhive up: example /api/hello", lambda p: [up, "up", str(example), "--listen", f"127.0.0.1:{p}"],
         "/api/hello"),
    ]
    results = {}
    for name, cmd, path in targets:
        port = hb.free_port()
        with hb.server(cmd(port), port) as pgid:
            url = f"http://127.0.0.1:{port}{path}"
            load(url, 1, args.connections)
            cpu0 = hb.cpu_seconds(pgid)
            r = results[name] = load(url, seconds, args.connections)
            r["cpu_ms_per_req"] = (hb.cpu_seconds(pgid) - cpu0) / max(r["requests"], 1) * 1e3
    base = results["uvicorn ASGI hello (no Wasm)"]
    print(f"\nApp platform over HTTP, {'wrk' if shutil.which('wrk') else 'python client'} -c{args.connections}, "
          f"{seconds:g}s each, {os.cpu_count()} CPUs")
    print(f"{'server':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'CPU vs bare':>12}")
    for name, r in results.items():
        print(f"{name:34} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['cpu_ms_per_req']:11.2f} "
              f"{r['cpu_ms_per_req'] / base['cpu_ms_per_req']:11.1f}x")
    redis_proc, redis_url = start_redis()
    try:
        ops = kv_ops_per_second(200 if args.quick else 2000, redis_url)
        outbound = redis_ops_per_second(200 if args.quick else 2000, redis_url) if redis_url else {}
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
    print("\nKey-value through a component (Spin key-value get/set host calls inside one guest call)")
    for backend, rate in ops.items():
        print(f"  {backend:8} {rate:10.0f} ops/s  ({1e6 / rate:.1f} µs per call)")
    if outbound:
        print("\nOutbound Redis set/get (Spin's redis connection inside one request; the peer: redis-py)")
        for who, rate in outbound.items():
            print(f"  {who:24} {rate:10.0f} ops/s  ({1e6 / rate:.1f} µs per call)")
    sq = sqlite_queries_per_second(500 if args.quick else 5000)
    floor = sq["Python sqlite3 directly"]
    print("\nSQLite point queries with a parameter (Spin sqlite execute), one 1000-row indexed table")
    for where, rate in sq.items():
        print(f"  {where:28} {rate:10.0f} queries/s  ({1e6 / rate:.1f} µs per query, {floor / rate:.1f}x the floor)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
