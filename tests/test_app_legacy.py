"""Legacy Spin apps: manifest version 1 read into the same app model as version 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app_fixtures import build_example, copy_example
from wasmhive.app import App, parse_manifest
from wasmhive.errors import ConfigError
from wasmhive.http import Request
from wasmhive.runtime import Runtime

# The example app (examples/app/spin.toml) in version 1 form, as `spin` 1.x wrote it: no static route
# (v1 has none), `config` for component variables, `allowed_http_hosts`.
EXAMPLE_V1 = '''\
spin_manifest_version = "1"
name = "wasmhive-example"
version = "0.1.0"
description = "A Python component with key-value and variables, a C WAGI module"
trigger = { type = "http", base = "/" }

[variables]
greeting = { default = "Hello" }
owner = { default = "wasmhive" }

[[component]]
id = "counter"
source = "counter/app.wasm"
key_value_stores = ["default"]
files = [{ source = "static", destination = "/static" }]
allowed_http_hosts = ["example.com:8080", "https://api.example.org", "self"]
[component.trigger]
route = "/api/..."
[component.config]
greeting = "{{ greeting }} from {{ owner }}"

[[component]]
id = "cgi"
source = "cgi/cgi.wasm"
files = [{ source = "static", destination = "/static" }]
environment = { APP_NAME = "wasmhive-example" }
[component.trigger]
route = "/cgi/..."
executor = { type = "wagi" }
'''


def test_v1_manifest_is_the_v2_app(tmp_path: Path) -> None:
    v2 = parse_manifest((Path(__file__).parent.parent / "examples" / "app" / "spin.toml").read_text(),
                        tmp_path / "v2" / "spin.toml")
    v1 = parse_manifest(EXAMPLE_V1, tmp_path / "v1" / "spin.toml")
    assert v1.spin and v1.name == v2.name and v1.version == v2.version and v1.base == "/"
    assert v1.variables == v2.variables
    assert [(t.route, t.component, t.executor.type, t.id) for t in v1.triggers] == [
        ("/api/...", "counter", "http", "trigger-counter"), ("/cgi/...", "cgi", "wagi", "trigger-cgi")]
    for cid in ("counter", "cgi"):
        a, b = v1.components[cid], v2.components[cid]
        assert (a.source.relative_to(tmp_path / "v1"), a.files, a.environment, a.key_value_stores, a.variables) == (
            b.source.relative_to(tmp_path / "v2"), b.files, b.environment, b.key_value_stores, b.variables)
    # Spin's conversion: each allowed_http_hosts entry for http and https; databases open (v1 had no list).
    assert v1.components["counter"].allowed_outbound_hosts == [
        "redis://*:*", "mysql://*:*", "postgres://*:*", "http://example.com:8080", "https://example.com:8080",
        "http://api.example.org", "https://api.example.org", "http://self"]
    assert not [w for w in v1.warnings if "counter" in w or "cgi" in w]


@pytest.mark.parametrize(("text", "message"), [
    ('spin_version = "1"\nname = "x"\n', "needs `trigger = "),
    ('spin_manifest_version = "1"\nname = "x"\ntrigger = { type = "redis" }\n', "trigger type 'redis'"),
    ('spin_manifest_version = "1"\nname = "x"\ntrigger = { type = "http" }\n[[component]]\nsource = "a.wasm"\n',
     "needs `id"),
    ('spin_manifest_version = "1"\nname = "x"\ntrigger = { type = "http" }\n[[component]]\nid = "a"\n'
     'source = "a.wasm"\n', "[component.trigger]"),
    ('spin_manifest_version = "1"\nname = "x"\ntrigger = { type = "http" }\n[[component]]\nid = "a"\n'
     'source = "a.wasm"\nallowed_http_hosts = ["ftp://x"]\n[component.trigger]\nroute = "/"\n', "ftp://x"),
])
def test_v1_errors_point_at_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_manifest(text, tmp_path / "spin.toml")
    assert message in str(e.value) and str(tmp_path / "spin.toml") in str(e.value)


def test_v1_allow_all_and_mixed_case_ids(tmp_path: Path) -> None:
    cfg = parse_manifest('spin_version = "1"\nname = "x"\ntrigger = { type = "http", base = "/base" }\n'
                         '[[component]]\nid = "My_Comp"\nsource = "a.wasm"\nallowed_http_hosts = ["insecure:allow-all"]\n'
                         'allowed_outbound_hosts = ["redis://cache:6379"]\n[component.trigger]\nroute = "/..."\n',
                         tmp_path / "spin.toml")
    assert list(cfg.components) == ["my-comp"] and cfg.base == "/base"
    assert cfg.components["my-comp"].allowed_outbound_hosts == [
        "redis://cache:6379", "http://*:*", "https://*:*", "http://self"]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    app_dir = copy_example(tmp_path_factory.mktemp("legacy") / "app")
    build_example(app_dir)
    return app_dir


def _responses(app_dir: Path, runtime: Runtime) -> list[tuple[int, str]]:
    out = []
    with App.load(app_dir, runtime=runtime) as app:
        h = app.http_app(close_app=False)
        try:
            for method, path, body in [("GET", "/api/hello", b""), ("GET", "/api/hello", b""),
                                       ("PUT", "/api/notes/n1", b"note one"), ("GET", "/api/notes/n1", b""),
                                       ("GET", "/api/notes", b""), ("GET", "/api/headers", b""),
                                       ("GET", "/api/static/about.txt", b""), ("GET", "/cgi/info?a=1", b""),
                                       ("GET", "/nowhere", b"")]:
                r = h.handle(Request(method, path.split("?")[0], query=path.partition("?")[2], body=body,
                                     headers=[("host", "127.0.0.1:3000"), ("user-agent", "pytest")]))
                out.append((r.status, r.text))
        finally:
            h.close()
    return out


@pytest.mark.slow
def test_v1_manifest_serves_what_v2_serves(example: Path, tmp_path: Path) -> None:
    v1_dir, v2_dir = tmp_path / "v1", tmp_path / "v2"
    for d in (v1_dir, v2_dir):
        shutil.copytree(example, d, ignore=shutil.ignore_patterns(".wasmhive"))
    (v1_dir / "spin.toml").write_text(EXAMPLE_V1)
    with Runtime(concurrency=False) as rt:
        want, got = _responses(v2_dir, rt), _responses(v1_dir, rt)
    assert [s for s, _ in want] == [200, 200, 201, 200, 200, 200, 200, 200, 404]
    assert got == want


# -- Spin 0.x core modules: the pre-component `handle-http-request` ABI --------------------------------

@pytest.fixture(scope="module")
def legacy_app(tmp_path_factory: pytest.TempPathFactory, guest_cache: Path) -> Path:
    """tests/app/legacy: a v1 manifest and a Spin 0.x module built with zig from legacy.c."""
    from wasmhive.app.toolchains import zig_cc

    here = Path(__file__).parent / "app" / "legacy"
    dest = tmp_path_factory.mktemp("legacy-app")
    shutil.copy(here / "spin.toml", dest / "spin.toml")
    zig_cc(here / "legacy.c", dest / "legacy.wasm", flags=("-O2", "-s", "-mexec-model=reactor"),
           cache_dir=guest_cache)
    return dest


def test_spin_0x_module_reads_the_request_and_answers(legacy_app: Path) -> None:
    import httpx

    from app_fixtures import Server

    server = Server(legacy_app / "spin.toml").wait()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.post("/legacy/echo/a%20b?x=1&y=2", content=b"hello module", headers={"x-echo": "echoed"})
            assert r.status_code == 200, server.output()
            assert r.content == b"body=hello module"
            assert r.headers["x-method"] == "POST"
            assert r.headers["x-uri"] == "/legacy/echo/a%20b?x=1&y=2"  # path and query, as sent
            assert r.headers["x-echo"] == "echoed"
            assert r.headers["x-path-info"] == "/echo/a b"  # Spin's routing headers are in the list too
            assert int(r.headers["x-header-count"]) >= 10
            assert r.headers["x-env"] == "hello from the manifest"
            assert r.headers["x-params"] == "none"
            r = client.get("/legacy/echo")
            assert (r.status_code, r.text, r.headers["x-method"]) == (200, "no body", "GET")
            for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
                assert client.request(method, "/legacy/echo").headers["x-method"] == method
            assert client.request("TRACE", "/legacy/echo").status_code == 405
            # spin-config's get-config: the component's `config` (v1), rendered from the app's variables.
            r = client.get("/legacy/config")
            assert r.status_code == 200, server.output()
            assert r.headers["x-config"] == "hello config world"
            assert r.headers["x-config-missing"] == "err:3:no config value for 'missing'"  # `other`
            assert r.headers["x-config-bad"].startswith("err:1:invalid key 'Bad-Key'")  # `invalid-key`
        assert "[legacy stderr] legacy module: POST /legacy/echo/a%20b?x=1&y=2" in server.output()
    finally:
        server.kill()


@pytest.mark.parametrize(("path", "logged"), [
    ("bad-pointer", "the response headers list at 0xfffffff0 (64 bytes) is outside the module's memory"),
    ("bad-body", "the response body at 0x7ffffff0 (64 bytes) is outside the module's memory"),
    ("bad-status", "response status 42 (must be 100-599)"),
    ("bad-header", "response header #1 'x-evil' is not a valid HTTP header"),
    ("bad-return", "the response record at 0xffffff00 (28 bytes) is outside the module's memory"),
    ("trap", "guest failed"),
    ("config-bad-pointer", "spin-config.get-config: the key at 0xfffffff0 (64 bytes) is outside the module's memory"),
])
def test_spin_0x_module_bad_answers_are_500s(legacy_app: Path, path: str, logged: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.ERROR, "wasmhive.http.spin_core")
    with App.load(legacy_app) as app:
        h = app.http_app(close_app=False)
        try:
            r = h.handle(Request("GET", f"/legacy/{path}", headers=[("host", "127.0.0.1:3000")]))
            assert (r.status, r.body) == (500, b"")
            lines = [rec.getMessage() for rec in caplog.records]
            assert any(line.startswith("component `legacy` (route /legacy/...): ") and logged in line
                       for line in lines), lines
            assert "set-cookie" not in dict(r.headers)
            # The next request is served normally: nothing of the bad one is left.
            ok = h.handle(Request("GET", "/legacy/echo", headers=[("host", "127.0.0.1:3000")]))
            assert (ok.status, ok.text) == (200, "no body")
        finally:
            h.close()


def _s(v: str | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else v


def test_spin_0x_module_outbound_http(legacy_app: Path, tmp_path: Path) -> None:
    """wasi-outbound-http's `request`, allowed by v1 `allowed_http_hosts` (a real loopback server)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from app_fixtures import free_port
    from wasmhive.app import App

    seen: list[tuple[str, str, str | None, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            seen.append((self.command, self.path, self.headers.get("x-from"), body))
            self.send_response(201)
            self.send_header("content-type", "text/x-pong")
            self.send_header("content-length", "4")
            self.end_headers()
            self.wfile.write(b"pong")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port, closed = server.server_address[1], free_port()
    app_dir = tmp_path / "app"
    shutil.copytree(legacy_app, app_dir)
    manifest = app_dir / "spin.toml"
    manifest.write_text(manifest.read_text().replace(
        'source = "legacy.wasm"\n', f'source = "legacy.wasm"\nallowed_http_hosts = ["127.0.0.1:{port}", '
        f'"127.0.0.1:{closed}"]\n'))
    try:
        with App.load(app_dir) as app:
            h = app.http_app(close_app=False)

            def outbound(target: str) -> tuple[int, dict[str, str], bytes]:
                r = h.handle(Request("GET", "/legacy/outbound", headers=[("host", "127.0.0.1:3000"),
                                                                         ("x-target", target)]))
                return r.status, {_s(k): _s(v) for k, v in r.headers}, r.body
            try:
                status, headers, body = outbound(f"http://127.0.0.1:{port}/hook?q=1")
                assert (status, headers["x-outbound"], headers["x-outbound-type"], body) == (
                    200, "ok 201", "text/x-pong", b"pong")
                assert seen == [("POST", "/hook?q=1", "legacy", b"ping")]
                # Not in allowed_http_hosts: destination-not-allowed (1), nothing sent.
                assert outbound(f"http://127.0.0.1:{port + 1 if port + 1 != closed else port + 2}/")[1][
                    "x-outbound"] == "err 1"
                assert outbound("http://localhost:1/")[1]["x-outbound"] == "err 1"
                assert outbound("not a url")[1]["x-outbound"] == "err 2"  # invalid-url
                # Allowed but nothing listening: request-error (3).
                assert outbound(f"http://127.0.0.1:{closed}/")[1]["x-outbound"] == "err 3"
                assert len(seen) == 1
            finally:
                h.close()
    finally:
        server.shutdown()
        server.server_close()


def test_core_module_without_the_export_is_refused_at_start_up(tmp_path: Path) -> None:
    from wasmhive.app import App

    (tmp_path / "cmd.wat").write_text('(module (memory (export "memory") 1) (func (export "_start")))')
    (tmp_path / "spin.toml").write_text('spin_manifest_version = 2\n[application]\nname = "x"\n[[trigger.http]]\n'
                                        'route = "/..."\ncomponent = "cmd"\n[component.cmd]\nsource = "cmd.wat"\n')
    with pytest.raises(ConfigError, match=r"must export `handle-http-request` .*executor = \{ type = \"wagi\" \}"):
        App.load(tmp_path)
