"""The canon prototype (`wasmhive.canon`) serves real `wasi:http` guests with today's host objects.

Guests: the hand-written WAT handler (`tests/canon/tiny.wat`: GET hello, POST echo), the componentize-py
hello of the HTTP benchmark (`benchmarks/guests/http_hello`), and the trigger tests' componentize-py
guest (`tests/http/pyguest`) for routing, headers, streaming and traps. Requests go through `HttpApp`
(in-process) and, once, through uvicorn on loopback.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmhive import Limits, Runtime
from wasmhive.canon import CanonHttpExecutor
from wasmhive.http import HttpApp
from wasmhive.http._types import Request

pytest_plugins = ("http_fixtures",)

ROOT = Path(__file__).parent.parent
TINY = ROOT / "tests" / "canon" / "tiny.wat"
MIB = 1 << 20


@pytest.fixture(scope="module")
def runtime(compile_cache: Path) -> Iterator[Runtime]:
    with Runtime(cache=compile_cache) as rt:
        yield rt


@pytest.fixture(scope="module")
def tiny_app(runtime: Runtime) -> Iterator[HttpApp]:
    with HttpApp([("/...", CanonHttpExecutor(runtime, TINY, name="tiny"))]) as app:
        yield app


@pytest.fixture(scope="module")
def hello_app(runtime: Runtime, guest_cache: Path) -> Iterator[HttpApp]:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    wasm = componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0",
                           ROOT / "benchmarks" / "guests" / "http_hello" / "app.py", cache_dir=guest_cache)
    with HttpApp([("/...", CanonHttpExecutor(runtime, wasm, name="hello"))]) as app:
        yield app


@pytest.fixture(scope="module")
def pyguest_app(runtime: Runtime, http_guest: Path) -> Iterator[HttpApp]:
    ex = CanonHttpExecutor(runtime, http_guest, name="pyguest", limits=Limits(timeout=5.0),
                           env={"GREETING": "hi canon"})
    with HttpApp([("/...", ex)]) as app:
        yield app


def post(path: str, body: bytes) -> Request:
    return Request("POST", path, headers=[("host", "t"), ("content-length", str(len(body)))], body=body)


def test_tiny_wat_hello(tiny_app: HttpApp) -> None:
    r = tiny_app.handle(Request("GET", "/", headers=[("host", "t")]))
    assert r.status == 200
    assert r.header("content-type") == b"text/plain"
    assert r.body == b"Hello from WAT!\n"


def test_tiny_wat_echo_1mib(tiny_app: HttpApp) -> None:
    body = os.urandom(MIB)
    r = tiny_app.handle(post("/echo", body))
    assert r.status == 200
    assert r.body == body


def test_tiny_wat_serves_many_requests(tiny_app: HttpApp) -> None:
    # Fresh instance per request: handles and host tables never leak from one request into the next.
    for i in range(50):
        body = f"request {i}".encode()
        assert tiny_app.handle(post("/", body)).body == body


def test_componentize_py_hello(hello_app: HttpApp) -> None:
    r = hello_app.handle(Request("GET", "/", headers=[("host", "t")]))
    assert r.status == 200
    assert r.header("content-type") == b"text/plain"
    assert r.body == b"Hello, world!\n"


def test_componentize_py_echo_1mib(hello_app: HttpApp) -> None:
    body = os.urandom(MIB)
    r = hello_app.handle(post("/echo", body))
    assert r.status == 200
    assert r.body == body


def test_pyguest_routes_headers_and_streaming(pyguest_app: HttpApp) -> None:
    r = pyguest_app.handle(Request("GET", "/hello", headers=[("host", "t")]))
    assert (r.status, r.body) == (200, b"Hello from Python!\n")
    r = pyguest_app.handle(Request("GET", "/headers", headers=[("host", "t"), ("x-canon", "yes")]))
    assert b"x-canon: yes" in r.body and b"GET" in r.body
    r = pyguest_app.handle(Request("GET", "/stream", query="n=5", headers=[("host", "t")]))
    assert r.body == b"".join(f"chunk {i}\n".encode() for i in range(5))
    r = pyguest_app.handle(Request("GET", "/status/404", headers=[("host", "t")]))
    assert r.status == 404
    r = pyguest_app.handle(Request("GET", "/env", headers=[("host", "t")]))
    assert r.status == 200 and b"hi canon" in r.body


def test_pyguest_trap_is_500_and_host_survives(pyguest_app: HttpApp) -> None:
    assert pyguest_app.handle(Request("GET", "/trap", headers=[("host", "t")])).status == 500
    assert pyguest_app.handle(Request("GET", "/noresponse", headers=[("host", "t")])).status == 500
    assert pyguest_app.handle(Request("GET", "/hello", headers=[("host", "t")])).status == 200


def test_real_http_over_loopback(tiny_app: HttpApp, serve_app: object) -> None:
    body = os.urandom(256 * 1024)
    with serve_app(tiny_app) as url:  # type: ignore[operator]
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
        try:
            conn.request("GET", "/")
            r = conn.getresponse()
            assert (r.status, r.getheader("content-type"), r.read()) == (200, "text/plain", b"Hello from WAT!\n")
            conn.request("POST", "/echo", body=body)
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, body)
        finally:
            conn.close()


def test_deadline_ends_a_spinning_guest(runtime: Runtime, http_guest: Path) -> None:
    ex = CanonHttpExecutor(runtime, http_guest, name="spin", limits=Limits(timeout=1.0))
    with HttpApp([("/...", ex)]) as app:
        assert app.handle(Request("GET", "/loop", headers=[("host", "t")])).status == 504
        assert app.handle(Request("GET", "/hello", headers=[("host", "t")])).status == 200


def test_memory_limit_is_enforced(runtime: Runtime, http_guest: Path) -> None:
    ex = CanonHttpExecutor(runtime, http_guest, name="alloc", limits=Limits(memory=96 << 20, timeout=10.0))
    with HttpApp([("/...", ex)]) as app:
        assert app.handle(Request("GET", "/alloc", query="mb=8", headers=[("host", "t")])).status == 200
        assert app.handle(Request("GET", "/alloc", query="mb=200", headers=[("host", "t")])).status == 500


def test_concurrent_requests(tiny_app: HttpApp) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> bool:
        body = os.urandom(1000 + i * 997)
        r = tiny_app.handle(post("/echo", body))
        return r.status == 200 and r.body == body

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(64)))
