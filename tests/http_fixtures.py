"""Fixtures for the HTTP trigger tests: the componentize-py guest, apps, live servers on loopback.

The guest (`tests/http/pyguest/app.py`, see its docstring for the routes) is built once per source hash
into the guest cache and compiled once into the session's compile cache.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmhive import Limits, Runtime
from wasmhive.http import HttpApp, ServerLimits, WasiHttpExecutor

HTTP_TESTS = Path(__file__).parent / "http"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def http_guest(guest_cache: Path) -> Path:
    """The componentize-py `wasi:http/proxy` test guest (~18 MB, built once)."""
    from wasmhive.app.toolchains import componentize_py, standard_wit

    return componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0",
                           HTTP_TESTS / "pyguest" / "app.py", cache_dir=guest_cache)


@pytest.fixture(scope="session")
def http_runtime(compile_cache: Path) -> Iterator[Runtime]:
    with Runtime(cache=compile_cache, concurrency=False) as rt:
        yield rt


@pytest.fixture(scope="session")
def outbound_target() -> Iterator[str]:
    """A plain HTTP server on loopback the guest may be allowed to call: answers `GET /x` with "target /x"."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"target {self.path} host={self.headers.get('host')}".encode()
            self.send_response(200 if self.path != "/redirect" else 302)
            if self.path == "/redirect":
                self.send_header("location", "/elsewhere")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def make_executor(rt: Runtime, guest: Path, **options: Any) -> WasiHttpExecutor:
    options.setdefault("limits", Limits(timeout=5.0))
    return WasiHttpExecutor(rt, guest, name="pyguest", **options)


@pytest.fixture(scope="session")
def http_app(http_runtime: Runtime, http_guest: Path, outbound_target: str) -> Iterator[HttpApp]:
    """The guest on `/...` with a 5 s deadline, allowed to call `outbound_target` (and nothing else)."""
    from wasmhive.capabilities.outbound_http import OutboundPolicy

    ex = make_executor(http_runtime, http_guest, outbound=OutboundPolicy.parse([outbound_target]))
    app = HttpApp([("/...", ex)], limits=ServerLimits(threads=4, max_body=1_000_000))
    yield app
    app.close()


@contextlib.contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on loopback in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                            access_log=False)
    server = uvicorn.Server(config)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not t.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(timeout=10)


@pytest.fixture(scope="session")
def live_url(http_app: HttpApp) -> Iterator[str]:
    """`http_app` served by uvicorn over loopback."""
    with serving(http_app) as url:
        yield url


@pytest.fixture(scope="session")
def serve_app() -> Any:
    """`serve_app(asgi_app)`: a context manager serving it on loopback (yields the base URL)."""
    return serving


@pytest.fixture(scope="session")
def new_executor(http_runtime: Runtime, http_guest: Path) -> Any:
    """`new_executor(**options)`: a `WasiHttpExecutor` for the test guest with other options."""
    return lambda **options: make_executor(http_runtime, http_guest, **options)
