"""Request header fields stay bytes from the ASGI server to a `wasi:http` guest (issue 12).

A componentize-py guest (`tests/http/headerecho/app.py`) answers with its request's fields as it got
them (name, value in hex); a zig-built WAGI module (`tests/app/wagi/cgi.c`) prints its CGI environment.
Both run in one Spin app served by uvicorn on loopback, and the client writes its request bytes itself
so that values no HTTP library would send (non-UTF-8) go out exactly as given.
"""

from __future__ import annotations

import http.client
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_fixtures import write_app
from wasmhive.app import App
from wasmhive.app.toolchains import componentize_py, standard_wit, zig_cc
from wasmhive.http import Request
from wasmhive.runtime import Runtime


def _http_fixtures():  # imported lazily: other test modules load it as a pytest plugin first
    import http_fixtures

    return http_fixtures


pytestmark = pytest.mark.slow

MANIFEST = """
spin_manifest_version = 2

[application]
name = "header-bytes"

[[trigger.http]]
route = "/echo/..."
component = "echo"

[[trigger.http]]
route = "/cgi/..."
component = "cgi"
executor = { type = "wagi" }

[component.echo]
source = "echo.wasm"

[component.cgi]
source = "cgi.wasm"
"""

# Sent in this order; `x-dup` twice with another field between. Values: bytes that are not UTF-8,
# UTF-8 text, and plain ASCII.
CLIENT_FIELDS = [
    (b"x-bin", b"\xff\xfe\x80 raw"),
    (b"x-dup", b"one"),
    (b"x-utf8", "h\u00e9llo \u20ac".encode()),
    (b"x-dup", b"two"),
    (b"spin-path-info", b"forged"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, guest_cache: Path, compile_cache: Path) -> Iterator[App]:
    tmp = tmp_path_factory.mktemp("header-bytes")
    echo = componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0",
                           _http_fixtures().HTTP_TESTS / "headerecho" / "app.py", cache_dir=guest_cache)
    shutil.copyfile(echo, tmp / "echo.wasm")
    shutil.copyfile(zig_cc(Path(__file__).parent / "app" / "wagi" / "cgi.c"), tmp / "cgi.wasm")
    with Runtime(cache=compile_cache) as rt, App(write_app(tmp, MANIFEST), runtime=rt) as a:
        yield a


@pytest.fixture(scope="module")
def url(app: App) -> Iterator[str]:
    http = app.http_app(close_app=False)
    with _http_fixtures().serving(http) as base:
        yield base
    http.close()


def raw_get(base: str, target: str, fields: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """GET `target` with exactly these header fields (after `Host`); the status and the body."""
    host, port = base.removeprefix("http://").split(":")
    head = b"".join(k + b": " + v + b"\r\n" for k, v in fields)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\n"
                  + head + b"Connection: close\r\n\r\n")
        resp = http.client.HTTPResponse(s)
        resp.begin()
        return resp.status, resp.read()


def guest_fields(body: bytes) -> list[tuple[bytes, bytes]]:
    """The echo guest's lines: (name, value bytes) in the order the guest saw them."""
    out = []
    for line in body.decode("ascii").splitlines():
        name, _, value = line.partition("\t")
        out.append((name.encode("ascii"), bytes.fromhex(value)))
    return out


def test_values_reach_the_guest_byte_exact_in_order_with_duplicates(url: str) -> None:
    status, body = raw_get(url, "/echo/a%20b/%E2%82%AC", CLIENT_FIELDS)
    assert status == 200
    got = guest_fields(body)
    names = [k for k, _ in got]
    own = [(k, v) for k, v in got if k.startswith(b"x-")]
    assert own == [f for f in CLIENT_FIELDS if f[0].startswith(b"x-")]  # exact bytes, order, duplicates
    assert names.index(b"host") < names.index(b"x-bin")  # the client's order, Host first as it was sent
    assert b"connection" not in names  # hop-by-hop fields are not passed in
    # Spin's fields come after the client's, as bytes; the client's forged one is gone.
    spin = dict((k, v) for k, v in got if k.startswith(b"spin-"))
    assert names[-len(spin):] == list(spin) and b"forged" not in spin.values()
    assert spin[b"spin-path-info"] == "/a b/\u20ac".encode()  # percent-decoded, UTF-8
    assert spin[b"spin-full-url"] == f"{url}/echo/a%20b/%E2%82%AC".encode()
    assert spin[b"spin-matched-route"] == b"/echo/..." and spin[b"spin-client-addr"].startswith(b"127.0.0.1:")


def test_wagi_still_gets_its_cgi_variables(url: str) -> None:
    status, body = raw_get(url, "/cgi/env?q=1", CLIENT_FIELDS)
    assert status == 200
    env = dict(line.split("=", 1) for line in body.decode("utf-8").splitlines())
    assert env["REQUEST_METHOD"] == "GET" and env["PATH_INFO"] == "/env" and env["QUERY_STRING"] == "q=1"
    assert env["X_MATCHED_ROUTE"] == "/cgi/..." and env["X_FULL_URL"].endswith("/cgi/env?q=1")
    # CGI variables are text: header bytes decoded latin-1 (never failing), duplicates joined.
    assert env["HTTP_X_BIN"] == "\xff\xfe\x80 raw"
    assert env["HTTP_X_UTF8"] == "h\u00e9llo \u20ac".encode().decode("latin-1")
    assert env["HTTP_X_DUP"] == "one, two"
    assert not any(k.startswith("HTTP_SPIN_") for k in env)  # no spin-* fields, the client's included


def test_socket_free_request_with_raw_fields(app: App) -> None:
    http = app.http_app(close_app=False)
    try:
        r = http.handle(Request("GET", "/echo/x", raw_headers=[(b"x-bin", b"\xff"), (b"x-a", b"1")]))
        assert r.status == 200
        assert [f for f in guest_fields(r.body) if f[0].startswith(b"x-")] == [(b"x-bin", b"\xff"), (b"x-a", b"1")]
        # The str form: names lower-cased, values latin-1; the guest sees the same bytes.
        r = http.handle(Request("GET", "/echo/x", headers=[("X-Latin", "\xe9t\xe9")]))
        assert (b"x-latin", b"\xe9t\xe9") in guest_fields(r.body)
    finally:
        http.close()


def test_request_keeps_raw_fields_and_decodes_text_lazily() -> None:
    raw = [(b"x-bin", b"\xff\x80"), (b"content-length", b"3"), (b"x-bin", b"2")]
    req = Request("POST", "/p", raw_headers=raw)
    assert req.raw_headers is raw  # kept as given, not copied or decoded
    assert req.headers == [("x-bin", "\xff\x80"), ("content-length", "3"), ("x-bin", "2")]
    assert req.header("X-Bin") == "\xff\x80" and req.raw_header(b"x-bin") == b"\xff\x80"
    assert req.header("absent") is None
    # The convenience form: text that latin-1 cannot hold goes as UTF-8 instead of failing.
    assert Request(headers=[("X-A", "\u20ac")]).raw_headers == [(b"x-a", "\u20ac".encode())]
    moved = req.replace(path="/q", raw_headers=raw[:1])
    assert (moved.path, moved.method, moved.headers) == ("/q", "POST", [("x-bin", "\xff\x80")])
    assert req.replace() == req and moved != req
    with pytest.raises(TypeError, match="not both"):
        Request(headers=[("a", "b")], raw_headers=[])
