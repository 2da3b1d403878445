"""The HTTP trigger with a real componentize-py `wasi:http` guest: socket-free and over loopback."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from wasmhive import Limits
from wasmhive.http import HttpApp, Request, ServerLimits

pytest_plugins = ("http_fixtures",)
pytestmark = pytest.mark.slow


# -- socket-free core -----------------------------------------------------------------------------------
def test_hello(http_app: HttpApp) -> None:
    r = http_app.handle(Request("GET", "/hello"))
    assert (r.status, r.body, r.header("content-type")) == (200, b"Hello from Python!\n", b"text/plain")


def test_route_by_path_and_status(http_app: HttpApp) -> None:
    assert http_app.handle(Request("GET", "/status/201")).status == 201
    assert http_app.handle(Request("GET", "/no-such-route")).status == 404  # the guest's own 404


def test_echo_post_body(http_app: HttpApp) -> None:
    r = http_app.handle(Request("POST", "/echo", headers=[("content-type", "application/x-test")], body=b"ping"))
    assert (r.status, r.body, r.header("content-type")) == (200, b"ping", b"application/x-test")


def test_guest_reads_headers_method_and_authority(http_app: HttpApp) -> None:
    r = http_app.handle(Request("PATCH", "/headers", "a=1", headers=[("X-Custom", "yes"), ("Connection", "close")],
                                authority="example.test:3000"))
    lines = r.text.splitlines()
    assert "method: PATCH" in lines and "path: /headers?a=1" in lines
    assert "authority: example.test:3000" in lines and "scheme: Scheme_Http()" in lines
    assert "x-custom: yes" in lines
    assert not any(ln.startswith("connection") for ln in lines)  # hop-by-hop headers are not passed in


def test_fields_rules_seen_by_the_guest(http_app: HttpApp) -> None:
    got = dict(ln.split("=", 1) for ln in http_app.handle(Request("GET", "/fields")).text.splitlines())
    assert got["get"] == "[b'1', b'2']" and got["has"] == "True"
    assert got["invalid-name"] == "HeaderError_InvalidSyntax"
    assert got["invalid-value"] == "HeaderError_InvalidSyntax"
    assert got["forbidden"] == "HeaderError_Forbidden"
    assert got["immutable"] == "HeaderError_Immutable"
    assert got["clone-mutable"] == "[b'3']"
    assert got["entries"] == "[('x-a', b'1'), ('x-a', b'2')]" and got["after-delete"] == "[]"


def test_environment_clock_and_random(new_executor) -> None:  # type: ignore[no-untyped-def]
    ex = new_executor(env={"GREETING": "hello from the manifest"})
    with HttpApp([("/...", ex)]) as app:
        first = app.handle(Request("GET", "/env")).text.splitlines()
        second = app.handle(Request("GET", "/env")).text.splitlines()
    assert first[0] == "hello from the manifest"
    assert int(first[1]) == time.gmtime().tm_year
    assert len(first[2]) == 16 and first[2] != second[2]  # wasmtime's random, fresh per instance


def test_big_response_body(http_app: HttpApp) -> None:
    r = http_app.handle(Request("GET", "/big", "n=3000000"))
    assert r.status == 200 and r.body == b"x" * 3_000_000


def test_trap_is_500_with_a_log_line(http_app: HttpApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        r = http_app.handle(Request("GET", "/trap"))
    assert (r.status, r.body) == (500, b"")
    errors = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert any("component `pyguest`" in m and "route /..." in m and "trapped" in m and "wasm backtrace" in m
               for m in errors)
    # The guest's own traceback arrives through wasi:cli/stderr and is logged with its name.
    assert any("[pyguest stderr]" in rec.getMessage() and "boom from the guest" in rec.getMessage()
               for rec in caplog.records)


def test_no_response_is_500(http_app: HttpApp, caplog: pytest.LogCaptureFixture) -> None:
    r = http_app.handle(Request("GET", "/noresponse"))
    assert r.status == 500
    assert any("without setting a response" in rec.getMessage() for rec in caplog.records)


def test_guest_stdout_is_logged(http_app: HttpApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wasmhive.guest"):
        assert http_app.handle(Request("GET", "/print")).status == 200
    msgs = [rec.getMessage() for rec in caplog.records]
    assert "[pyguest stdout] hello on stdout" in msgs and "[pyguest stderr] hello on stderr" in msgs


def test_access_log_line(http_app: HttpApp, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wasmhive.http.access"):
        http_app.handle(Request("GET", "/status/202"))
    line = next(rec.getMessage() for rec in caplog.records if rec.name == "wasmhive.http.access")
    assert '"GET /status/202 HTTP/1.1" 202' in line and line.startswith("[pyguest] ")


def test_deadline_is_504_and_the_next_request_is_fine(new_executor) -> None:  # type: ignore[no-untyped-def]
    ex = new_executor(limits=Limits(timeout=0.5))
    with HttpApp([("/...", ex)]) as app:
        t0 = time.monotonic()
        assert app.handle(Request("GET", "/loop")).status == 504
        assert time.monotonic() - t0 < 5
        assert app.handle(Request("GET", "/hello")).status == 200


def test_deadline_while_blocked_in_a_host_call(new_executor) -> None:  # type: ignore[no-untyped-def]
    # The guest sleeps through wasi:clocks + poll (a host call): epochs cannot interrupt it, the host's
    # own timeout must.
    ex = new_executor(limits=Limits(timeout=0.5))
    with HttpApp([("/...", ex)]) as app:
        t0 = time.monotonic()
        r = app.handle(Request("GET", "/stream", "n=100&delay=1000"))
        assert time.monotonic() - t0 < 5
        assert r.status == 200 and r.body == b"chunk 0\n"  # the head was out already: body cut short


def test_memory_limit_per_instance(new_executor) -> None:  # type: ignore[no-untyped-def]
    ex = new_executor(limits=Limits(memory=96 * 1024 * 1024, timeout=5.0))
    with HttpApp([("/...", ex)]) as app:
        assert app.handle(Request("GET", "/alloc", "mb=8")).status == 200
        assert app.handle(Request("GET", "/alloc", "mb=200")).status == 500  # memory.grow refused → trap
        assert app.handle(Request("GET", "/alloc", "mb=8")).status == 200  # the next instance is fresh


def test_slow_client_body_is_dropped(new_executor, serve_app) -> None:  # type: ignore[no-untyped-def]
    import socket

    ex = new_executor()
    with HttpApp([("/...", ex)], limits=ServerLimits(body_timeout=0.5)) as app, serve_app(app) as url:
        host, port = url.rsplit("/", 1)[-1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            # Promises 100 bytes, sends 5, then stalls: the server gives up instead of holding on.
            s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nhello")
            t0 = time.monotonic()
            data = s.recv(4096)
            assert time.monotonic() - t0 < 5
        assert data.startswith(b"HTTP/1.1 408 ")
        assert httpx.get(url + "/hello").status_code == 200


def test_body_limit_is_413(http_app: HttpApp) -> None:
    r = http_app.handle(Request("POST", "/echo", headers=[("content-length", "2000000")], body=b"x"))
    assert r.status == 413


def test_header_limit_is_431(http_app: HttpApp) -> None:
    r = http_app.handle(Request("GET", "/hello", headers=[("x-big", "a" * 20000)]))
    assert r.status == 431


def test_concurrency_cap_is_503(new_executor) -> None:  # type: ignore[no-untyped-def]
    import threading

    ex = new_executor(limits=Limits(timeout=3.0))
    with HttpApp([("/...", ex)], limits=ServerLimits(max_concurrency=1, threads=2)) as app:
        slow = threading.Thread(target=app.handle, args=(Request("GET", "/stream", "n=3&delay=300"),))
        slow.start()
        time.sleep(0.3)
        assert app.handle(Request("GET", "/hello")).status == 503
        slow.join()
        assert app.handle(Request("GET", "/hello")).status == 200


def test_outbound_allowed_and_denied(http_app: HttpApp, outbound_target: str) -> None:
    r = http_app.handle(Request("GET", "/outbound", f"url={outbound_target}/x"))
    port = outbound_target.rsplit(":", 1)[1]
    assert r.text == f"200\ntarget /x host=127.0.0.1:{port}"
    # Redirects come back to the guest as they are.
    assert http_app.handle(Request("GET", "/outbound", f"url={outbound_target}/redirect")).text.startswith("302\n")
    # Same server, other port: not in allowed_outbound_hosts.
    denied = http_app.handle(Request("GET", "/outbound", "url=http://127.0.0.1:1/x"))
    assert denied.text == "error: ErrorCode_HttpRequestDenied"


def test_outbound_loopback_needs_an_explicit_rule(new_executor, outbound_target) -> None:  # type: ignore[no-untyped-def]
    from wasmhive.capabilities.outbound_http import OutboundPolicy

    # `http://*:*` allows any host, but a wildcard never reaches loopback or private addresses.
    ex = new_executor(outbound=OutboundPolicy.parse(["http://*:*"]))
    with HttpApp([("/...", ex)]) as app:
        r = app.handle(Request("GET", "/outbound", f"url={outbound_target}/x"))
        assert r.text == "error: ErrorCode_DestinationIpProhibited"


# -- over loopback, through uvicorn -----------------------------------------------------------------------
def test_live_hello_and_echo(live_url: str) -> None:
    with httpx.Client(base_url=live_url) as c:
        r = c.get("/hello")
        assert (r.status_code, r.text) == (200, "Hello from Python!\n")
        big = bytes(range(256)) * 1024
        assert c.post("/echo", content=big).content == big
        assert c.get("/trap").status_code == 500


def test_live_streaming_request_body(live_url: str) -> None:
    def gen():
        for i in range(20):
            yield f"part {i};".encode() * 500
    with httpx.Client(base_url=live_url) as c:
        r = c.post("/echo", content=gen())  # chunked: no content-length, streamed to the guest on demand
        assert r.content == b"".join(gen())


def test_live_stream_50_chunks_arrive_one_by_one(live_url: str) -> None:
    arrivals = []
    with httpx.Client(base_url=live_url) as c, c.stream("GET", "/stream", params={"n": 50, "delay": 20}) as r:
        assert r.status_code == 200
        buf = b""
        for chunk in r.iter_raw():
            buf += chunk
            arrivals.append(time.monotonic())
    assert buf == b"".join(f"chunk {i}\n".encode() for i in range(50))
    # 50 chunks written 20 ms apart: the client saw many separate arrivals spread over the run.
    assert len(arrivals) >= 25
    assert arrivals[-1] - arrivals[0] > 0.5


def test_live_loop_504_then_fine(new_executor, serve_app) -> None:  # type: ignore[no-untyped-def]
    ex = new_executor(limits=Limits(timeout=0.5))
    with HttpApp([("/...", ex)]) as app, serve_app(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/loop").status_code == 504
        assert c.get("/hello").status_code == 200


def test_mounted_in_starlette(http_app: HttpApp, serve_app) -> None:  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    def home(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("starlette")

    outer = Starlette(routes=[Route("/", home), Mount("/wasm", app=http_app.asgi())])
    with serve_app(outer) as url, httpx.Client(base_url=url) as client:
        assert client.get("/").text == "starlette"
        r = client.get("/wasm/headers?q=1")
        assert r.status_code == 200 and "path: /headers?q=1" in r.text
        assert client.post("/wasm/echo", content=b"through starlette").content == b"through starlette"


def test_wasmhive_up_with_two_workers(http_guest, compile_cache, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    from http_fixtures import free_port

    port = free_port()
    exe = Path(sys.executable).parent / "wasmhive"
    env = {**os.environ, "WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp_path)}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "up", str(http_guest), "--listen", f"127.0.0.1:{port}", "--workers",
                                 "2", "--timeout", "5s"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "wasmhive up did not start"
                time.sleep(0.2)
        assert (r.status_code, r.text) == (200, "Hello from Python!\n")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            assert [c.get("/status/204").status_code for _ in range(6)] == [204] * 6
            assert c.get("/trap").status_code == 500
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
