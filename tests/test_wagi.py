"""The WAGI executor: a zig-built C CGI module over WASI stdio, run through the real runtime."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_fixtures import write_app
from wasmhive.app.toolchains import zig_cc
from wasmhive.appconfig import stage_files
from wasmhive.http._router import Router
from wasmhive.http._wagi import CgiError, WagiExecutor, WagiRequest, build_argv, parse_cgi_output
from wasmhive.runtime import Limits, Runtime

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime() as rt:
        yield rt


@pytest.fixture(scope="module")
def cgi_wasm() -> Path:
    return zig_cc(HERE / "app" / "wagi" / "cgi.c")


@pytest.fixture(scope="module")
def executor(runtime: Runtime, cgi_wasm: Path, tmp_path_factory: pytest.TempPathFactory) -> WagiExecutor:
    tmp = tmp_path_factory.mktemp("wagiapp")
    cfg = write_app(tmp, """
[component.cgi]
source = "cgi.wasm"
files = [{ source = "public", destination = "/static" }]
exclude_files = ["static/secret.txt"]
environment = { GREETING = "hi", REQUEST_METHOD = "overridden-by-cgi" }
""", files={"public/hello.txt": "hello file\n", "public/secret.txt": "s3cret"})
    comp = cfg.components["cgi"]
    return WagiExecutor(runtime, cgi_wasm, component_id="cgi", files_root=stage_files(cfg, comp),
                        environment=comp.environment, limits=Limits(timeout=2.0))


ROUTER = Router([("/cgi/...", "cgi")], base="/")


def call(executor: WagiExecutor, path: str, *, method: str = "GET", query: str = "", body: bytes = b"",
         headers: list[tuple[str, str]] | None = None) -> tuple[int, dict[str, str], bytes]:
    match = ROUTER.match(path)
    assert match is not None
    req = WagiRequest(method, path, query, headers or [("host", "127.0.0.1:3000")], body, client_addr="127.0.0.1:4242")
    resp = executor.handle(req, match)
    return resp.status, {k.lower(): v for k, v in resp.headers}, resp.body


def test_hello(executor: WagiExecutor) -> None:
    status, headers, body = call(executor, "/cgi", method="POST")
    assert status == 200 and headers["content-type"] == "text/plain" and headers["x-guest"] == "cgi"
    assert body == b"hello from wagi POST\n"


def test_cgi_environment(executor: WagiExecutor) -> None:
    status, _, body = call(executor, "/cgi/env", query="a=1&b=two", headers=[
        ("host", "127.0.0.1:3000"), ("x-custom", "v"), ("content-type", "text/x"), ("authorization", "secret")])
    env = dict(line.split("=", 1) for line in body.decode().splitlines())
    assert status == 200
    assert env["REQUEST_METHOD"] == "GET" and env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["PATH_INFO"] == "/env" and env["SCRIPT_NAME"] == "/cgi" and env["QUERY_STRING"] == "a=1&b=two"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == "3000"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["CONTENT_TYPE"] == "text/x" and env["CONTENT_LENGTH"] == "0"
    assert env["HTTP_X_CUSTOM"] == "v" and env["HTTP_HOST"] == "127.0.0.1:3000"
    assert "HTTP_AUTHORIZATION" not in env
    assert env["X_MATCHED_ROUTE"] == "/cgi/..." and env["X_FULL_URL"] == "http://127.0.0.1:3000/cgi/env?a=1&b=two"
    assert env["X_RAW_COMPONENT_ROUTE"] == "/cgi/..." and env["X_CLIENT_ADDR"] == "127.0.0.1:4242"
    assert env["GREETING"] == "hi"  # the component's environment
    assert "PATH" not in env and "HOME" not in env  # nothing from the host


def test_argv_like_spin(executor: WagiExecutor) -> None:
    _, _, body = call(executor, "/cgi/args", query="x=1&y=hello%20world")
    assert body.decode().splitlines() == ["/cgi", "x=1", "y=hello", "world"]
    assert build_argv("${SCRIPT_NAME} --flag ${ARGS}", "/s", "") == ["/s", "--flag"]


def test_post_body_on_stdin(executor: WagiExecutor) -> None:
    payload = bytes(range(256)) * 300
    status, _, body = call(executor, "/cgi/echo", method="POST", body=payload)
    assert status == 200 and body == payload


def test_status_and_location(executor: WagiExecutor) -> None:
    status, _, body = call(executor, "/cgi/status")
    assert status == 404 and body == b"not here"
    status, headers, _ = call(executor, "/cgi/redirect")
    assert status == 302 and headers["location"] == "/elsewhere"


@pytest.mark.parametrize(("path", "status", "log"), [
    ("/cgi/malformed", 500, "malformed CGI output"),
    ("/cgi/empty", 500, "wrote nothing"),
    ("/cgi/trap", 500, "guest failed"),
    ("/cgi/loop", 504, "deadline"),
])
def test_failures_are_logged(executor: WagiExecutor, caplog: pytest.LogCaptureFixture, path: str, status: int,
                             log: str) -> None:
    caplog.set_level(logging.INFO, "wasmhive.http.wagi")
    got, _, body = call(executor, path)
    assert got == status and body == b""
    assert log in caplog.text and "component `cgi` (route /cgi/...)" in caplog.text
    # The next request is unaffected.
    assert call(executor, "/cgi")[0] == 200


def test_files_read_only_and_nothing_else(executor: WagiExecutor) -> None:
    _, _, body = call(executor, "/cgi/file")
    assert body.decode().splitlines() == ["hello file", "write:denied", "secret:hidden", "etc:hidden"]


@pytest.mark.parametrize(("out", "status", "headers", "body"), [
    (b"Content-Type: a\n\nbody", 200, [("Content-Type", "a")], b"body"),
    (b"Status: 201 Created\r\nX: 1\r\n\r\n", 201, [("X", "1")], b""),
    (b"Location: /x\nStatus: 301\n\n", 301, [("Location", "/x")], b""),
])
def test_parse_cgi_output(out: bytes, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    r = parse_cgi_output(out)
    assert (r.status, r.headers, r.body) == (status, headers, body)


@pytest.mark.parametrize("out", [b"", b"no blank line", b"Bad Header Line\n\n", b"Status: abc\n\n", b"Status: 99\n\n"])
def test_parse_cgi_output_errors(out: bytes) -> None:
    with pytest.raises(CgiError):
        parse_cgi_output(out)
