"""Slow HTTP clients against `wasmhive up`: is a normal client still served while they hold connections?

    .venv/bin/python benchmarks/slowloris.py                      # 70 clients per attack, 10 s each
    .venv/bin/python benchmarks/slowloris.py --clients 200 --seconds 20 --attack body
    .venv/bin/python benchmarks/slowloris.py --quick              # smoke run (a few seconds)

Starts `wasmhive up` (the HTTP benchmark's hello/echo guest) on loopback, measures a normal client
(sequential `GET /hello`, one keep-alive connection) idle, then while N attackers hold connections, and prints
p50/p99 idle vs under attack with their ratio. The attacks (issue 11, items 3 and 4):
  body    N connections declaring 60 kB bodies, then sending one byte a second
  upload  N connections to `POST /echo` declaring 1 MB: 70 KiB at once (past the pre-read), then a byte
          a second (each holds a guest thread if it gets one)
  head    N connections trickling header lines, one a second (never ending the head)
Attackers come from 127.0.0.10 and up (at most 32 per address), the normal client from 127.0.0.1.
Bounded: loopback only, N <= 500, T <= 120 s. Nothing here asserts speed; it prints what it measured.
The attack and measurement helpers are reused by `tests/security/test_slow_clients.py`.
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
import select
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
GUEST = HERE / "guests" / "http_hello" / "app.py"
MAX_CLIENTS = 500
MAX_SECONDS = 120.0


# -- the server ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def up(guest: Path, log: Path, env: dict[str, str] | None = None, **config: Any) -> Iterator[tuple[int, int]]:
    """`wasmhive.server.serve(UpConfig(guest, **config))` in a subprocess; yields (port, pid)."""
    port = free_port()
    cfg = {"path": str(guest), "listen": f"127.0.0.1:{port}", **config}
    code = "import json, sys; from wasmhive.server import UpConfig, serve; serve(UpConfig(**json.loads(sys.argv[1])))"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(cfg)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if get(port, "/.well-known/wasmhive/health", timeout=2)[0] == 200:
                    break
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- the normal client -----------------------------------------------------------------------------------
def get(port: int, path: str = "/", timeout: float = 10.0, source: str = "127.0.0.1") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@dataclass
class Latencies:
    """A normal client's requests: seconds per successful request, and what went wrong with the others."""

    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        if not self.seconds:
            return float("inf")
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def normal_client(port: int, path: str = "/", *, seconds: float | None = None, count: int | None = None,
                  timeout: float = 10.0) -> Latencies:
    """Sequential `GET path` on one keep-alive connection (reopened after a failure), for `seconds` or `count`."""
    out = Latencies()
    conn: http.client.HTTPConnection | None = None
    end = time.monotonic() + seconds if seconds is not None else None
    while (count is None or len(out.seconds) + len(out.failures) < count) and (end is None or time.monotonic() < end):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=("127.0.0.1", 0))
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                out.seconds.append(time.perf_counter() - t0)
            else:
                out.failures.append(f"status {r.status}")
        except (OSError, http.client.HTTPException) as e:
            out.failures.append(f"{type(e).__name__}: {e}")
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    return out


# -- the attackers ---------------------------------------------------------------------------------------
def attacker_address(i: int, per_address: int = 32, first: int = 10) -> str:
    """Attacker `i`'s source address: 127.0.0.<first> and up, `per_address` connections each."""
    n = first - 1 + i // per_address
    return f"127.0.{n // 250}.{n % 250 + 1}"  # all of 127/8 is loopback on Linux


def attack_bytes(kind: str, path: str = "/") -> tuple[bytes, bytes]:
    """(what an attacker sends at once, what it sends at every tick) for attack `kind`."""
    if kind == "body":
        return f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 60000\r\n\r\nx".encode(), b"x"
    if kind == "upload":
        head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n".encode()
        return head + b"x" * (70 * 1024), b"x"
    if kind == "head":
        return f"GET {path} HTTP/1.1\r\nhost: x\r\n".encode(), b"x-slow: y\r\n"
    raise ValueError(f"unknown attack {kind!r}")


@dataclass
class Victim:
    """One attacker connection: when it was opened, when the server closed or answered it, and how."""

    sock: socket.socket | None
    opened: float
    ended: float | None = None
    answer: bytes = b""  # the first bytes the server sent (its status line), if any


class Attack:
    """`n` connections that send `first` at once and then `tick` every `interval` seconds, from a thread,
    until stopped; the server's answer (or close) is recorded per connection. A context manager."""

    def __init__(self, port: int, kind: str, n: int, *, path: str = "/", interval: float = 1.0,
                 per_address: int = 32) -> None:
        if not 0 < n <= MAX_CLIENTS:
            raise ValueError(f"between 1 and {MAX_CLIENTS} attackers, not {n}")
        self.port, self.n, self.interval, self.per_address = port, n, interval, per_address
        self.first, self.tick = attack_bytes(kind, path)
        self.victims: list[Victim] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def __enter__(self) -> Attack:
        for i in range(self.n):
            s = socket.socket()
            s.settimeout(5)
            try:
                s.bind((attacker_address(i, self.per_address), 0))
                s.connect(("127.0.0.1", self.port))
                s.sendall(self.first)
                s.setblocking(False)
                self.victims.append(Victim(s, time.monotonic()))
            except OSError:
                s.close()
                self.victims.append(Victim(None, time.monotonic(), time.monotonic(), b"(refused)"))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for v in self.victims:
            if v.sock is not None:
                v.sock.close()
                v.sock = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for v in self.victims:
                if v.sock is not None:
                    self._poke(v)

    def _poke(self, v: Victim) -> None:
        assert v.sock is not None
        try:
            readable, _, _ = select.select([v.sock], [], [], 0)
            if readable:
                data = v.sock.recv(4096)
                self._end(v, data)
                return
            v.sock.send(self.tick)
        except BlockingIOError:
            pass  # the server stopped reading (backpressure): still held open
        except OSError:
            self._end(v, b"")

    def _end(self, v: Victim, data: bytes) -> None:
        assert v.sock is not None
        v.ended, v.answer = time.monotonic(), data.split(b"\r\n", 1)[0]
        v.sock.close()
        v.sock = None

    def holding(self) -> int:
        """Connections the server still holds open."""
        return sum(v.sock is not None for v in self.victims)


# -- the run ---------------------------------------------------------------------------------------------
def build_guest() -> Path:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    build = HERE / ".build"
    build.mkdir(exist_ok=True)
    return componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0", GUEST, cache_dir=build)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=70, help=f"attackers per attack (at most {MAX_CLIENTS})")
    ap.add_argument("--seconds", type=float, default=10.0, help=f"seconds under each attack (at most {MAX_SECONDS:g})")
    ap.add_argument("--attack", choices=["body", "upload", "head", "all"], default="all")
    ap.add_argument("--threads", type=int, default=4, help="guest threads of the server")
    ap.add_argument("--guest", type=Path, default=None,
                    help="a wasi:http component answering /hello and POST /echo [default: the HTTP benchmark's]")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20 clients, 2 s per attack")
    args = ap.parse_args(argv)
    clients, seconds = (20, 2.0) if args.quick else (args.clients, args.seconds)
    if not 0 < clients <= MAX_CLIENTS or not 0 < seconds <= MAX_SECONDS:
        ap.error(f"--clients must be 1..{MAX_CLIENTS} and --seconds 0..{MAX_SECONDS:g}")
    kinds = ["body", "upload", "head"] if args.attack == "all" else [args.attack]
    guest = args.guest or build_guest()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, \
            up(guest, Path(tmp) / "server.log", env={"WASMHIVE_STATE": tmp}, threads=args.threads) as (port, _):
        normal_client(port, "/hello", count=20)  # warm up
        idle = normal_client(port, "/hello", seconds=min(seconds, 3.0))
        for kind in kinds:
            with Attack(port, kind, clients, path="/echo" if kind != "head" else "/hello") as attack:
                time.sleep(0.5)  # let every attacker's first bytes land
                hit = normal_client(port, "/hello", seconds=seconds)
                held = attack.holding()
            rows.append((kind, hit, held))
            time.sleep(1.0)  # let the server drop what is left of the attack
    print(f"\nSlow clients vs a normal client (GET /hello), {clients} attackers, {seconds:g} s each, "
          f"{args.threads} guest threads, {os.cpu_count()} CPUs")
    print(f"{'attack':10} {'requests':>9} {'failed':>7} {'held':>6} {'p50 ms':>8} {'p99 ms':>8} {'p99/idle':>9}")
    print(f"{'(idle)':10} {len(idle.seconds):9d} {len(idle.failures):7d} {'-':>6} {fmt_ms(idle.percentile(50))} "
          f"{fmt_ms(idle.percentile(99))} {'1.00x':>9}")
    for kind, hit, held in rows:
        ratio = hit.percentile(99) / idle.percentile(99)
        print(f"{kind:10} {len(hit.seconds):9d} {len(hit.failures):7d} {held:6d} {fmt_ms(hit.percentile(50))} "
              f"{fmt_ms(hit.percentile(99))} {ratio:8.2f}x")
    print("held: attacker connections still open when the measurement ended")
    return 0


if __name__ == "__main__":
    sys.exit(main())
