"""The app platform end to end: the example app (Python component with key-value and variables, C WAGI
module, static response) served by the HTTP trigger, in-process and over loopback through uvicorn."""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from app_fixtures import Server, build_example, copy_example, free_port, redis_url
from wasmhive.app import App
from wasmhive.cli import main
from wasmhive.errors import ConfigError
from wasmhive.http import Request
from wasmhive.runtime import Runtime

__all__ = ["redis_url"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    app_dir = copy_example(tmp_path_factory.mktemp("example") / "app")
    build_example(app_dir)
    return app_dir


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime(concurrency=False) as rt:
        yield rt


@pytest.fixture
def app_dir(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built app per test (its own .wasmhive state)."""
    import shutil

    dest = tmp_path / "app"
    shutil.copytree(built, dest, ignore=shutil.ignore_patterns(".wasmhive"))
    return dest


def get(app: App, path: str, method: str = "GET", body: bytes = b"") -> tuple[int, str]:
    h = app.http_app(close_app=False)
    try:
        r = h.handle(Request(method, path.split("?")[0], query=path.partition("?")[2], body=body,
                             headers=[("host", "127.0.0.1:3000"), ("user-agent", "pytest")]))
    finally:
        h.close()
    return r.status, r.text


def test_three_routes(app_dir: Path, runtime: Runtime) -> None:
    with App.load(app_dir, runtime=runtime, environ={"WASMHIVE_VARIABLE_OWNER": "tests"}) as app:
        status, text = get(app, "/")
        assert status == 200 and text.startswith("wasmhive example app")
        assert get(app, "/api/hello") == (200, "Hello from tests! You are visitor #1.\n")
        assert get(app, "/api/hello") == (200, "Hello from tests! You are visitor #2.\n")
        assert get(app, "/api/notes/x", "PUT", b"\x00binary") == (201, "stored\n")
        assert get(app, "/api/notes/x") == (200, "\x00binary")
        assert get(app, "/api/notes") == (200, "x\n")
        status, text = get(app, "/cgi/info?a=1&b=2")
        assert status == 200 and "method        GET" in text and "path info     /info" in text
        assert "argv          [/cgi] [a=1] [b=2]" in text and "mounted read-only" in text
        assert get(app, "/.well-known/spin/health") == (200, "OK")
        assert get(app, "/elsewhere")[0] == 404


def test_spin_headers_wildcard_and_parameters(app_dir: Path, runtime: Runtime) -> None:
    manifest = app_dir / "spin.toml"
    manifest.write_text(manifest.read_text() + """
[application.trigger.http]
base = "/base"

[[trigger.http]]
route = "/users/:id/..."
component = "counter"
""")
    with App.load(app_dir, runtime=runtime) as app:
        status, text = get(app, "/base/users/42/headers?q=1")
        assert status == 200
        headers = dict(line.split(": ", 1) for line in text.splitlines())
        assert headers == {
            "spin-base-path": "/base",
            "spin-client-addr": "127.0.0.1:0",
            "spin-component-route": "/users/:id",
            "spin-full-url": "http://127.0.0.1:3000/base/users/42/headers?q=1",
            "spin-matched-route": "/base/users/:id/...",
            "spin-path-info": "/headers",
            "spin-path-match-id": "42",
            "spin-raw-component-route": "/users/:id/...",
        }
        assert get(app, "/base/api/headers")[1].count("spin-matched-route: /base/api/...") == 1
        assert get(app, "/api/hello")[0] == 404  # everything lives under the base path now


def test_denied_store(app_dir: Path, runtime: Runtime) -> None:
    manifest = app_dir / "spin.toml"
    manifest.write_text(manifest.read_text().replace('key_value_stores = ["default"]', "key_value_stores = []"))
    with App.load(app_dir, runtime=runtime) as app:
        assert get(app, "/api/hello") == (403, "key-value store denied: Error_AccessDenied\n")


def test_missing_required_variable(app_dir: Path, runtime: Runtime) -> None:
    manifest = app_dir / "spin.toml"
    manifest.write_text(manifest.read_text().replace('owner = { default = "wasmhive" }', "owner = { required = true }"))
    with pytest.raises(ConfigError, match=r"missing required variable: owner \(set WASMHIVE_VARIABLE_OWNER"):
        App.load(app_dir, runtime=runtime, environ={})
    r = CliRunner().invoke(main, ["up", str(app_dir), "--listen", f"127.0.0.1:{free_port()}"], env={})
    assert r.exit_code == 64 and "missing required variable: owner" in r.output
    with App.load(app_dir, runtime=runtime, variables={"owner": "cli"}) as app:
        assert get(app, "/api/hello")[1] == "Hello from cli! You are visitor #1.\n"


def test_missing_component_source_says_build(app_dir: Path) -> None:
    (app_dir / "cgi" / "cgi.wasm").unlink()
    with pytest.raises(ConfigError, match=r"source .*cgi\.wasm does not exist \(run `wasmhive build` first\)"):
        App.load(app_dir)


def test_sqlite_state_survives_restart(app_dir: Path, runtime: Runtime) -> None:
    with App.load(app_dir, runtime=runtime) as app:
        get(app, "/api/hello")
        get(app, "/api/notes/keep", "PUT", b"me")
    assert (app_dir / ".wasmhive" / "key_value.db").is_file()
    with App.load(app_dir, runtime=runtime) as app:
        assert get(app, "/api/hello")[1].endswith("visitor #2.\n")
        assert get(app, "/api/notes/keep") == (200, "me")


def test_redis_backend_shared(app_dir: Path, runtime: Runtime, redis_url: str) -> None:
    (app_dir / "runtime-config.toml").write_text(
        f'[key_value_store.default]\ntype = "redis"\nurl = "{redis_url}"\nprefix = "{app_dir.parent.name}:"\n')
    with App.load(app_dir, runtime=runtime) as one, App.load(app_dir, runtime=runtime) as two:
        assert get(one, "/api/hello")[1].endswith("visitor #1.\n")
        assert get(two, "/api/hello")[1].endswith("visitor #2.\n")  # two apps (workers) share the state
    assert not (app_dir / ".wasmhive" / "key_value.db").exists()


def test_key_value_seed(app_dir: Path, runtime: Runtime) -> None:
    with App.load(app_dir, runtime=runtime, key_value={"visits": "41"}) as app:
        assert get(app, "/api/hello")[1].endswith("visitor #42.\n")


def test_unknown_fields_warned(app_dir: Path, runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    manifest = app_dir / "spin.toml"
    manifest.write_text(manifest.read_text().replace(
        '[component.cgi]\n', '[component.cgi]\ndependencies_inherit_configuration = true\n'))
    with App.load(app_dir, runtime=runtime) as app:
        assert any("`dependencies_inherit_configuration` is not supported yet" in w for w in app.config.warnings)
    assert "dependencies_inherit_configuration" in caplog.text


def test_loopback_and_kill_9(app_dir: Path) -> None:
    """Over real HTTP through uvicorn; every acknowledged write survives a kill -9 of the server."""
    server = Server(app_dir).wait()
    acked: list[int] = []
    stop = threading.Event()

    def writer() -> None:  # writes until the server dies under it
        with httpx.Client(base_url=server.url, timeout=10) as client:
            i = 0
            while not stop.is_set():
                try:
                    r = client.put(f"/api/notes/n{i}", content=f"value {i}".encode())
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acked.append(i)
                i += 1

    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            r = client.get("/api/hello")
            assert r.status_code == 200 and r.text.endswith("visitor #1.\n")
            assert client.get("/cgi/x").text.startswith("Hello from C")
        t = threading.Thread(target=writer)
        t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 30 and time.monotonic() < deadline and t.is_alive():
            time.sleep(0.01)
        server.kill(signal.SIGKILL)  # mid-write: the writer is still sending
        t.join(timeout=30)
    finally:
        stop.set()
        server.kill(signal.SIGKILL)
    assert len(acked) >= 30
    db = sqlite3.connect(app_dir / ".wasmhive" / "key_value.db")
    keys = {k for (k,) in db.execute("SELECT key FROM spin_key_value WHERE store='default'")}
    db.close()
    assert {f"note:n{i}" for i in acked} <= keys
    restarted = Server(app_dir).wait()
    try:
        last = acked[-1]
        assert httpx.get(restarted.url + f"/api/notes/n{last}").text == f"value {last}"
        assert httpx.get(restarted.url + "/api/hello").text.endswith("visitor #2.\n")
    finally:
        restarted.kill()


def test_up_flags_variable_key_value_runtime_config(app_dir: Path, redis_url: str) -> None:
    rc = app_dir / "elsewhere.toml"
    rc.write_text(f'[key_value_store.default]\ntype = "redis"\nurl = "{redis_url}"\nprefix = "flags-{app_dir.parent.name}:"\n')
    server = Server(app_dir, "--variable", "owner=flags", "--key-value", "visits=9", "--runtime-config-file",
                    str(rc)).wait()
    try:
        assert httpx.get(server.url + "/api/hello").text == "Hello from flags! You are visitor #10.\n"
    finally:
        server.kill()
    assert not (app_dir / ".wasmhive" / "key_value.db").exists()  # the runtime config chose Redis


def test_mounted_in_starlette(app_dir: Path, runtime: Runtime) -> None:
    import asyncio

    from starlette.applications import Starlette
    from starlette.routing import Mount

    import wasmhive

    async def run(web: Starlette) -> tuple[str, str]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://test") as client:
            return (await client.get("/wasm/api/hello")).text, (await client.get("/wasm/cgi/x")).text

    with wasmhive.App.load(app_dir, runtime=runtime) as app:
        hello, cgi = asyncio.run(run(Starlette(routes=[Mount("/wasm", app=app.asgi())])))
    assert hello.endswith("visitor #1.\n") and cgi.startswith("Hello from C")


def test_files_read_only_for_a_wasi_http_component(app_dir: Path, runtime: Runtime) -> None:
    (app_dir / "static" / "sub").mkdir()
    (app_dir / "static" / "sub" / "deep.txt").write_text("deep")
    with App.load(app_dir, runtime=runtime) as app:
        status, text = get(app, "/api/static/about.txt")
        assert status == 200 and text.startswith("This file is mounted read-only")
        assert get(app, "/api/static/sub/deep.txt") == (200, "deep")
        assert get(app, "/api/static/nope.txt") == (404, "FileNotFoundError: No such file or directory\n")
        assert get(app, "/api/static/../spin.toml")[0] == 404  # nothing outside the files
        assert get(app, "/api/write-test") == (403, "write denied: Read-only file system\n")
    assert not (app_dir / "static" / "new.txt").exists()


def test_file_calls_are_observed_with_their_error_codes(app_dir: Path, runtime: Runtime) -> None:
    """`--metrics` counts the files capability's calls by operation and outcome: a missing file is the
    guest's `open-at` answered `err(no-entry)` (the WIT enum case as the outcome), a found one `ok`."""
    pc = pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    from wasmhive.http._metrics import Metrics

    with App.load(app_dir, runtime=runtime) as app, app.http_app(close_app=False) as http:
        metered = Metrics(http.asgi(), http)
        for path, status in (("/api/static/about.txt", 200), ("/api/static/nope.txt", 404),
                             ("/api/static/nope.txt", 404)):
            r = http.handle(Request("GET", path, headers=[("host", "127.0.0.1:3000"), ("user-agent", "pytest")]))
            assert r.status == status, r.text
        text = pc.generate_latest(metered.registry).decode()
    calls = {(s.labels["op"], s.labels["outcome"]): s.value
             for f in text_string_to_metric_families(text) for s in f.samples
             if s.name == "wasmhive_capability_calls_total" and s.labels["capability"] == "files"}
    assert (calls[("open-at", "no-entry")], calls[("open-at", "ok")], calls[("read-via-stream", "ok")]) == (2, 1, 1)
    assert {outcome for _, outcome in calls} <= {"ok", "no-entry"}, calls
