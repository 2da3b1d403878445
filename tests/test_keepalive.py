"""Reused HTTP/1.1 keep-alive connections to `wasmhive up`: a request after a finished one is served on
the same connection (after a slow request, an error, a body the guest never read, a response whose length
was known before the guest finished it), and the server closes connections cleanly (FIN, never a reset).

Real `wasmhive up` over loopback; the guest is the componentize-py program below (built once, cached).
Raw sockets where the byte order on the wire matters (a head and its body in separate segments), httpx
where the point is what an ordinary client sees.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server

pytestmark = pytest.mark.slow

GUEST = '''
"""keep-alive test guest. /cl?n=N&ms=M: content-length N, N bytes written and flushed, then M ms before
the body is finished. /slow?ms=M: answers after M ms. /status/N: empty, status N. /trap: traps. /echo:
the request body. /ignore: 200 without reading the request body."""
from urllib.parse import parse_qs, urlparse

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import monotonic_clock, poll, streams
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam


def sleep_ms(ms):
    poll.poll([monotonic_clock.subscribe_duration(ms * 1_000_000)])


def start(out, status, headers=()):
    resp = OutgoingResponse(Fields.from_list(list(headers)))
    resp.set_status_code(status)
    body = resp.body()
    ResponseOutparam.set(out, Ok(resp))
    return body, body.write()


def finish(body, stream):
    stream.__exit__(None, None, None)
    OutgoingBody.finish(body, None)


def read_all(request):
    body = request.consume()
    stream = body.stream()
    data = b""
    while True:
        try:
            data += stream.blocking_read(65536)
        except Exception:
            break
    stream.__exit__(None, None, None)
    return data


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, out: ResponseOutparam) -> None:
        u = urlparse(request.path_with_query() or "/")
        q = {k: int(v[0]) for k, v in parse_qs(u.query).items()}
        if u.path == "/cl":
            n = q.get("n", 10)
            body, stream = start(out, 200, [("content-length", str(n).encode())])
            stream.blocking_write_and_flush(b"x" * n)
            sleep_ms(q.get("ms", 300))
            finish(body, stream)
        elif u.path == "/slow":
            sleep_ms(q.get("ms", 1000))
            body, stream = start(out, 200)
            stream.blocking_write_and_flush(b"slow")
            finish(body, stream)
        elif u.path.startswith("/status/"):
            finish(*start(out, int(u.path[8:])))
        elif u.path == "/trap":
            raise RuntimeError("trap on purpose")
        elif u.path == "/echo":
            data = read_all(request)
            body, stream = start(out, 200)
            if data:
                stream.blocking_write_and_flush(data)
            finish(body, stream)
        else:  # /ignore and the rest: the request body is never read
            body, stream = start(out, 200)
            stream.blocking_write_and_flush(b"ignored")
            finish(body, stream)
'''


@pytest.fixture(scope="module")
def guest(guest_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    src = tmp_path_factory.mktemp("keepalive-guest") / "kaguest.py"
    src.write_text(GUEST)
    return componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0", src, cache_dir=guest_cache)


@pytest.fixture(scope="module")
def server(guest: Path, compile_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import shutil

    state = tmp_path_factory.mktemp("keepalive-state")
    wasm = shutil.copy(guest, state / "kaguest.wasm")  # the server's log goes beside it, not into the cache
    srv = Server(Path(wasm), env={"WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(state)})
    try:
        yield srv.wait(timeout=120)
    finally:
        srv.kill()


# -- a minimal HTTP/1.1 client on a raw socket: the test decides what goes out in which segment -----------
def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _head(method: str, path: str, body_length: int | None = None) -> bytes:
    length = f"content-length: {body_length}\r\n" if body_length is not None else ""
    return f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{length}\r\n".encode()


def _read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response (content-length or chunked) from `sock`; bytes past it stay in `buf`."""
    def fill() -> None:
        data = sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        buf.extend(data)

    while b"\r\n\r\n" not in buf:
        fill()
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[:end + 4]
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if status in (204, 304):  # no body, and (RFC 9110 8.6) a 204 has no content-length
        assert status == 304 or "content-length" not in headers, headers
        return status, headers, b""
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            fill()
        body = bytes(buf[:n])
        del buf[:n]
        return status, headers, body
    assert headers.get("transfer-encoding") == "chunked", headers
    body = b""
    while True:
        while b"\r\n" not in buf:
            fill()
        i = buf.index(b"\r\n")
        size = int(bytes(buf[:i]), 16)
        while len(buf) < i + 2 + size + 2:
            fill()
        body += bytes(buf[i + 2:i + 2 + size])
        del buf[:i + 2 + size + 2]
        if size == 0:
            return status, headers, body


def _closed_cleanly(sock: socket.socket, buf: bytearray) -> bool:
    """True when the server's next move is a FIN (EOF), False when it is a reset."""
    assert not buf, bytes(buf)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return False


# -- the reported bug: the next request goes out before the server marks the previous one done ------------
def test_next_request_while_the_guest_finishes_a_response_of_known_length(server: Server) -> None:
    # The guest declares content-length 100 and writes it all, then takes 300 ms to finish its body: the
    # client has the whole response and sends its next request at once (a POST whose body follows the
    # head in a second segment). The server used to close the connection here, with that body unread
    # (a reset): "Server disconnected without sending a response" / "Connection reset by peer".
    with _connect(server) as sock:
        buf = bytearray()
        for i in range(3):
            sock.sendall(_head("GET", "/cl?n=100&ms=300"))
            assert _read_response(sock, buf)[::2] == (200, b"x" * 100)
            payload = f"payload {i}".encode()
            sock.sendall(_head("POST", "/echo", len(payload)))
            time.sleep(0.05)
            sock.sendall(payload)
            status, _, body = _read_response(sock, buf)
            assert (status, body) == (200, payload), server.output()


def test_httpx_reuses_its_connection_across_such_responses(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(5):
            r = client.get("/cl", params={"n": 50, "ms": 200})
            assert (r.status_code, r.content) == (200, b"x" * 50)
            r = client.post("/echo", params={"httpx": 1}, content=f"body {i}".encode())
            assert (r.status_code, r.text) == (200, f"body {i}"), server.output()
    time.sleep(0.2)  # the access log line follows the response
    # One connection throughout: every request came from the same client port.
    ports = {line.split('"')[0].split(":")[-1] for line in server.output().splitlines() if "/echo?httpx=1" in line}
    assert len(ports) == 1, ports


# -- reuse after a slow request, an error, an unread body ---------------------------------------------------
@pytest.mark.parametrize("first", ["/slow?ms=1500", "/status/500", "/status/504", "/trap", "/status/404"])
def test_reuse_after(server: Server, first: str) -> None:
    with _connect(server) as sock:
        buf = bytearray()
        sock.sendall(_head("GET", first))
        status, _, _ = _read_response(sock, buf)
        assert status == (200 if first.startswith("/slow") else 500 if first == "/trap" else int(first[8:]))
        sock.sendall(_head("POST", "/echo", 5))
        sock.sendall(b"again")
        assert _read_response(sock, buf)[::2] == (200, b"again"), server.output()


@pytest.mark.parametrize("size", [10, 200_000])
def test_reuse_after_a_body_the_guest_never_read(server: Server, size: int) -> None:
    # 10 bytes arrive with the head; 200 kB is past what the server reads before the guest starts (64 KiB),
    # so the guest answers while most of the body is still unread: the server discards the rest.
    with _connect(server) as sock:
        buf = bytearray()
        for _ in range(2):
            sock.sendall(_head("POST", "/ignore", size))
            sock.sendall(b"b" * size)
            assert _read_response(sock, buf)[::2] == (200, b"ignored"), server.output()
            sock.sendall(_head("GET", "/status/204"))
            assert _read_response(sock, buf)[0] == 204, server.output()


def test_a_large_unread_body_ends_the_connection_cleanly(server: Server) -> None:
    # Past what the server discards to keep a connection: the answer arrives whole, then a FIN (a close
    # with the body unread would be a reset, which can destroy the answer before the client reads it).
    size = 8_000_000
    with _connect(server) as sock:
        sock.sendall(_head("POST", "/ignore", size))
        sender = threading.Thread(target=_send_quietly, args=(sock, b"b" * size))
        sender.start()
        buf = bytearray()
        assert _read_response(sock, buf)[::2] == (200, b"ignored")
        sender.join(timeout=30)
        assert _closed_cleanly(sock, buf)


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server stopped reading: the test looks at what the client got
        sock.sendall(data)


# -- the idle keep-alive timeout (5 s) ----------------------------------------------------------------------
def test_idle_gap_under_the_keep_alive_timeout_reuses_the_connection(server: Server) -> None:
    with _connect(server) as sock:
        buf = bytearray()
        sock.sendall(_head("GET", "/status/200"))
        assert _read_response(sock, buf)[0] == 200
        time.sleep(3.5)
        sock.sendall(_head("GET", "/status/201"))
        assert _read_response(sock, buf)[0] == 201


def test_idle_connection_past_the_timeout_is_closed_with_a_fin(server: Server) -> None:
    with _connect(server) as sock:
        buf = bytearray()
        sock.sendall(_head("GET", "/status/200"))
        assert _read_response(sock, buf)[0] == 200
        t0 = time.monotonic()
        assert _closed_cleanly(sock, buf)  # waits for the server's close
        assert time.monotonic() - t0 > 3  # the idle timeout (5 s), not something sooner


# -- answers given while the request body is still arriving, with tight limits -----------------------------
class _Serve(Server):
    """`wasmhive.server.serve(UpConfig(...))` (what `up` runs) in a subprocess, for limits `up` has no flag for."""

    def __init__(self, guest: Path, log: Path, env: dict[str, str], **config: object) -> None:
        import json
        import os
        import subprocess
        import sys

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("wb")
        cfg = {"path": str(guest), "listen": f"127.0.0.1:{self.port}", **config}
        code = "import json, sys; from wasmhive.server import UpConfig, serve; serve(UpConfig(**json.loads(sys.argv[1])))"
        self.proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(cfg)], stdout=self._out,
                                     stderr=subprocess.STDOUT, env={**os.environ, **env})


@pytest.fixture(scope="module")
def tight(guest: Path, compile_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The guest served with a 30 kB body limit and a 2 s body deadline."""
    tmp = tmp_path_factory.mktemp("keepalive-tight")
    srv = _Serve(guest, tmp / "server.log", {"WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp)},
                 max_body=30_000, body_timeout=2.0)
    try:
        yield srv.wait(timeout=120)
    finally:
        srv.kill()


def test_a_refused_upload_gets_its_answer_then_a_fin(tight: Server) -> None:
    # A chunked upload past the body limit: 413 with `connection: close` while the client is still sending.
    with _connect(tight) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"2000\r\n" + b"c" * 0x2000 + b"\r\n"
        sender = threading.Thread(target=_send_quietly, args=(sock, chunk * 256))  # 2 MiB
        sender.start()
        buf = bytearray()
        status, headers, _ = _read_response(sock, buf)
        assert (status, headers.get("connection")) == (413, "close")
        sender.join(timeout=30)
        assert _closed_cleanly(sock, buf)


def test_a_declared_oversize_body_gets_its_answer_then_a_fin(tight: Server) -> None:
    with _connect(tight) as sock:
        sock.sendall(_head("POST", "/echo", 5_000_000))
        sender = threading.Thread(target=_send_quietly, args=(sock, b"d" * 5_000_000))
        sender.start()
        buf = bytearray()
        assert _read_response(sock, buf)[0] == 413
        sender.join(timeout=30)
        assert _closed_cleanly(sock, buf)


def test_an_unread_body_that_stops_arriving_is_closed_at_the_body_deadline(tight: Server) -> None:
    # Answered (413: its declared length is over the limit) before its body is read; the client sends part
    # of the body, then nothing: the server discards what comes until the body deadline (2 s here), then
    # closes with a FIN, instead of keeping the connection for ever.
    with _connect(tight) as sock:
        sock.sendall(_head("POST", "/ignore", 40_000) + b"e" * 10_000)
        buf = bytearray()
        assert _read_response(sock, buf)[0] == 413
        t0 = time.monotonic()
        assert _closed_cleanly(sock, buf)
        assert time.monotonic() - t0 > 1.0  # at the deadline, not at once


def test_a_body_too_slow_for_the_guest_gets_408_then_a_fin(tight: Server) -> None:
    with _connect(tight) as sock:
        sock.sendall(_head("POST", "/echo", 20_000) + b"e" * 10_000)
        buf = bytearray()
        status, headers, _ = _read_response(sock, buf)
        assert (status, headers.get("connection")) == (408, "close")
        assert _closed_cleanly(sock, buf)


def test_a_request_right_behind_a_discarded_body_is_not_cut_by_the_idle_timer(server: Server) -> None:
    # The end of the unread body and the next request arrive together; that request runs longer than the
    # idle keep-alive timeout (5 s), which must not be running while it is served.
    with _connect(server) as sock:
        sock.sendall(_head("POST", "/ignore", 400_000) + b"b" * 400_000 + _head("GET", "/slow?ms=5500"))
        buf = bytearray()
        assert _read_response(sock, buf)[::2] == (200, b"ignored")
        assert _read_response(sock, buf)[::2] == (200, b"slow"), server.output()
