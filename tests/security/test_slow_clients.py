"""Slow and huge HTTP clients (issue 11, items 3 and 4), against a real server process on loopback.

The server is `wasmhive.server.serve(UpConfig(...))` (what `wasmhive up` runs: uvicorn with wasmhive's
`GuardedProtocol`) on the componentize-py test guest, with short deadlines so the file stays bounded.
Attackers bind 127.0.0.10 and up (all of 127/8 is loopback), the normal client 127.0.0.1, so the
per-address connection cap is not what saves the normal client unless a test says so. The attack and
measurement helpers are `benchmarks/slowloris.py`'s (its soak mode runs the same attacks longer).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import select
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.slow
pytest_plugins = ("http_fixtures",)

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 6.0
PER_CLIENT = 16
SERVER = dict(threads=4, max_concurrency=16, timeout=5.0, header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT,
              min_body_rate=500, max_connections_per_client=PER_CLIENT)


def _load_bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "slowloris.py"
    spec = importlib.util.spec_from_file_location("wasmhive_bench_slowloris", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture(scope="module")
def server(http_guest: Path, compile_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(port, pid) of one server process shared by this file's tests."""
    tmp = tmp_path_factory.mktemp("slow")
    env = {"WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp)}
    with bench.up(http_guest, tmp / "server.log", env=env, **SERVER) as (port, pid):
        yield port, pid


def _not_locked_out(idle: Any, hit: Any) -> None:
    """Every normal request succeeded, and p99 stayed within max(10 x idle p99, 1 s)."""
    assert not hit.failures, hit.failures[:5]
    assert len(hit.seconds) >= 5
    bound = max(10 * idle.percentile(99), 1.0)
    assert hit.percentile(99) <= bound, (hit.percentile(99), idle.percentile(99))


def test_slow_body_flood_does_not_lock_out_a_normal_client(server: Any) -> None:
    port, _ = server
    idle = bench.normal_client(port, "/hello", count=30)
    assert not idle.failures
    # 70 connections declaring 60 kB bodies and trickling a byte every 0.5 s: more than the in-flight
    # cap (16), from 5 addresses (under the per-address cap).
    with bench.Attack(port, "body", 70, path="/echo", interval=0.5, per_address=14) as attack:
        time.sleep(0.5)
        hit = bench.normal_client(port, "/hello", seconds=3.0)
        assert attack.holding() == 70  # they really were holding connections all along
        # Trickling does not extend the body deadline: all of them get 408 soon after it.
        deadline = time.monotonic() + BODY_TIMEOUT + 10
        while attack.holding() and time.monotonic() < deadline:
            time.sleep(0.2)
    _not_locked_out(idle, hit)
    answers = {v.answer for v in attack.victims}
    assert answers == {b"HTTP/1.1 408 Request Timeout"}, answers
    held = [v.ended - v.opened for v in attack.victims if v.ended is not None]
    assert len(held) == 70 and min(held) >= BODY_TIMEOUT - 0.5


def test_slow_uploads_to_echo_do_not_take_every_guest_thread(server: Any) -> None:
    port, _ = server
    idle = bench.normal_client(port, "/hello", count=30)
    # Eight 1 MB uploads past the pre-read, then a byte every 0.5 s: each blocks a guest in its read.
    with bench.Attack(port, "upload", 8, path="/echo", interval=0.5, per_address=8) as attack:
        time.sleep(0.5)
        hit = bench.normal_client(port, "/hello", seconds=3.0)
        assert attack.holding() == 8
    _not_locked_out(idle, hit)
    # Once they are gone, every streaming thread comes back: a fast 100 KiB upload is echoed.
    body = bytes(range(256)) * 400
    assert _upload(port, body, 1, 0.0)[:2] == (200, body)


def test_connections_per_client_address_are_capped(server: Any) -> None:
    port, _ = server
    held = []
    try:
        for _ in range(PER_CLIENT):
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.40", 0))
            s.sendall(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")  # kept alive: still counted
            held.append(s)
        with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.40", 0)) as extra:
            with contextlib.suppress(OSError):
                extra.sendall(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            answer = _read_all(extra)
        # Refused before anything was read: a 503, or (if the refusal raced the request) a reset.
        assert answer.startswith(b"HTTP/1.1 503 ") or answer == b"", answer
        # Another address is not affected; a freed connection can be opened again.
        assert bench.get(port, "/hello", source="127.0.0.41")[0] == 200
        held.pop().close()
        time.sleep(0.2)
        assert bench.get(port, "/hello", source="127.0.0.40")[0] == 200
    finally:
        for s in held:
            s.close()


def test_huge_header_line_is_refused_before_it_is_buffered(server: Any) -> None:
    port, pid = server
    before = bench.rss_bytes(pid)
    for i in range(4):
        sent, answer = _send_unterminated_header(port, f"127.0.0.{50 + i}", 64 << 20)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        assert sent < 64 << 20  # refused while the line was still coming
    grown = bench.rss_bytes(pid) - before
    # Before the fix, each 64 MiB line was held whole (4 connections: +360 MiB).
    assert grown < 32 << 20, f"server RSS grew by {grown >> 20} MiB"
    assert bench.get(port, "/hello")[0] == 200


def test_ordinary_clients_pass_the_guard(server: Any) -> None:
    port, _ = server
    # A large head under the cap, pipelined requests with a body in between, and a keep-alive connection
    # idle for longer than the head deadline (that deadline runs only once a head has begun).
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        big = "x-big: " + "a" * (15 * 1024) + "\r\n"
        s.sendall(f"GET /hello HTTP/1.1\r\nhost: x\r\n{big}\r\n".encode())
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
        time.sleep(HEADER_TIMEOUT + 0.5)
        s.sendall(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 11\r\n\r\nhello world"
                  b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answers = _read_all(s)
    assert answers.count(b"HTTP/1.1 200 ") == 3, answers
    assert b"hello world" in answers


def test_trickled_heads_are_closed_at_the_head_deadline(server: Any) -> None:
    port, _ = server
    t0 = time.monotonic()
    with bench.Attack(port, "head", 20, path="/hello", interval=0.3, per_address=10) as attack:
        # Without a head deadline they would stay open as long as they trickle; give it 8 s.
        while attack.holding() and time.monotonic() - t0 < 8.0:
            time.sleep(0.1)
            assert bench.get(port, "/hello")[0] == 200
    assert {v.answer for v in attack.victims} == {b"HTTP/1.1 408 Request Timeout"}
    held = [v.ended - v.opened for v in attack.victims if v.ended is not None]
    assert len(held) == 20 and min(held) >= HEADER_TIMEOUT - 0.2
    # A connection that sends nothing at all is closed at the same deadline.
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.60", 0)) as s:
        t1 = time.monotonic()
        assert _read_all(s) == b""
        assert time.monotonic() - t1 >= HEADER_TIMEOUT - 0.2


def test_the_same_limits_hold_with_several_workers(http_guest: Path, compile_cache: Path, tmp_path: Path) -> None:
    env = {"WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp_path)}
    with bench.up(http_guest, tmp_path / "server.log", env=env, workers=2, **SERVER) as (port, _):
        sent, answer = _send_unterminated_header(port, "127.0.0.70", 16 << 20)
        assert answer.startswith(b"HTTP/1.1 431 ") and sent < 16 << 20
        with bench.Attack(port, "head", 4, path="/hello", interval=0.3) as attack:
            t0 = time.monotonic()
            while attack.holding() and time.monotonic() - t0 < 8.0:
                time.sleep(0.1)
        assert {v.answer for v in attack.victims} == {b"HTTP/1.1 408 Request Timeout"}
        assert bench.get(port, "/hello")[0] == 200


# -- helpers ---------------------------------------------------------------------------------------------
def _read_all(s: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _send_unterminated_header(port: int, source: str, size: int) -> tuple[int, bytes]:
    """Send one header line of `size` bytes (never ended) while watching for an answer; (bytes sent, answer)."""
    chunk = b"a" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nhost: x\r\nx-big: ")
        s.setblocking(False)
        sent, end = 0, time.monotonic() + 20
        while sent < size and time.monotonic() < end:
            readable, writable, _ = select.select([s], [s], [], 1.0)
            if readable:
                break
            if writable:
                try:
                    sent += s.send(chunk[: size - sent])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    break
        s.settimeout(10)
        return sent, _read_all(s)


def test_a_steady_slow_upload_is_served_and_a_trickle_is_not(new_executor: Any, serve_app: Any) -> None:
    # HttpApp mounted in stock uvicorn (no GuardedProtocol): the body deadline is the app's own. It is a
    # budget of 1 s plus 1 s per 1000 bytes received, so a steady 2 kB/s upload outlives 1 s and a
    # 100 B/s trickle does not.
    from wasmhive.http import HttpApp, ServerLimits

    limits = ServerLimits(body_timeout=1.0, min_body_rate=1000)
    with HttpApp([("/...", new_executor())], limits=limits) as app, serve_app(app) as url:
        port = int(url.rsplit(":", 1)[1])
        status, body, took = _upload(port, b"s" * 200, 15, 0.1)
        assert (status, body) == (200, b"s" * 3000)
        assert took > limits.body_timeout
        assert _upload(port, b"t" * 10, 300, 0.1)[0] == 408


def _upload(port: int, piece: bytes, pieces: int, interval: float) -> tuple[int, bytes, float]:
    """POST /echo a body of `pieces` x `piece`, one piece per `interval`; (status, body, seconds taken)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = f"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {len(piece) * pieces}\r\n\r\n"
        s.sendall(head.encode())
        for _ in range(pieces):
            if select.select([s], [], [], interval)[0]:
                break  # answered early
            try:
                s.sendall(piece)
            except OSError:
                break
        r = http.client.HTTPResponse(s)
        r.begin()
        return r.status, r.read(), time.monotonic() - t0
