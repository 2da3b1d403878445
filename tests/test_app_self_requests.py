"""Self-requests and private routes: a real componentize-py component calls its own app in-process,
`http://self/<path>` through the public router and `http://<id>.spin.internal/<path>` (service chaining,
the only way to reach a `route = { private = true }` component), subject to `allowed_outbound_hosts`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from wasmhive.app import App
from wasmhive.http import Request
from wasmhive.runtime import Runtime

pytest_plugins = ("http_fixtures",)

_MANIFEST = """
spin_manifest_version = 2
[application]
name = "selfreq"

[[trigger.http]]
route = "{front_route}"
component = "front"

[[trigger.http]]
route = "/static"
static_response = {{ status_code = 200, body = "static!" }}

[[trigger.http]]
route = {{ private = true }}
component = "back"

[component.front]
source = "guest.wasm"
allowed_outbound_hosts = {allowed}

[component.back]
source = "guest.wasm"
"""


def _app(tmp: Path, guest: Path, rt: Runtime, allowed: list[str], front_route: str = "/...") -> App:
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(guest, tmp / "guest.wasm")
    allowed_toml = "[" + ", ".join(f'"{a}"' for a in allowed) + "]"
    (tmp / "spin.toml").write_text(_MANIFEST.format(allowed=allowed_toml, front_route=front_route))
    return App.load(tmp / "spin.toml", runtime=rt)


@pytest.fixture(scope="module")
def allowed_app(tmp_path_factory: pytest.TempPathFactory, http_guest: Path, http_runtime: Runtime) -> Iterator[App]:
    app = _app(tmp_path_factory.mktemp("allowed"), http_guest, http_runtime,
               ["http://self", "http://back.spin.internal"])
    yield app
    app.close()


def _call(app: App, url: str) -> str:
    with app.http_app(close_app=False) as http:
        r = http.handle(Request("GET", "/outbound", f"url={url}"))
    assert r.status == 200
    return r.text


def test_self_request_goes_through_the_public_router(allowed_app: App) -> None:
    assert _call(allowed_app, "http://self/static") == "200\nstatic!"
    assert _call(allowed_app, "http://self/hello") == "200\nHello from Python!\n"
    # Host paths are answered by the app itself, as for an external request.
    assert _call(allowed_app, "http://self/.well-known/spin/health") == "200\nOK"


def test_private_component_reached_by_service_chaining(allowed_app: App) -> None:
    text = _call(allowed_app, "http://back.spin.internal/headers?x=1")
    lines = text.splitlines()
    assert lines[0] == "200"
    assert "path: /headers?x=1" in lines
    assert "authority: back.spin.internal" in lines
    assert "spin-matched-route: /..." in lines
    assert "spin-path-info: /headers" in lines


def test_chaining_needs_a_matching_rule(allowed_app: App) -> None:
    # `front` exists but the rule names only `back`.
    assert _call(allowed_app, "http://front.spin.internal/hello") == "error: ErrorCode_HttpRequestDenied"


def test_denied_without_self_in_allowed_outbound_hosts(tmp_path: Path, http_guest: Path,
                                                       http_runtime: Runtime) -> None:
    with _app(tmp_path / "a", http_guest, http_runtime, []) as app:
        assert _call(app, "http://self/static") == "error: ErrorCode_HttpRequestDenied"
        assert _call(app, "http://back.spin.internal/hello") == "error: ErrorCode_HttpRequestDenied"
    # `self` alone grants the router, not service chaining to a private component.
    with _app(tmp_path / "b", http_guest, http_runtime, ["http://self"]) as app:
        assert _call(app, "http://self/static") == "200\nstatic!"
        assert _call(app, "http://back.spin.internal/hello") == "error: ErrorCode_HttpRequestDenied"


def test_private_route_is_not_reachable_from_outside(tmp_path: Path, http_guest: Path,
                                                     http_runtime: Runtime) -> None:
    with _app(tmp_path, http_guest, http_runtime, ["http://back.spin.internal"], front_route="/outbound") as app:
        assert not any("not reachable" in w for w in app.config.warnings)
        with app.http_app(close_app=False) as http:
            assert http.handle(Request("GET", "/headers")).status == 404
            assert http.handle(Request("GET", "/headers", authority="back.spin.internal")).status == 404
            r = http.handle(Request("GET", "/outbound", "url=http://back.spin.internal/hello"))
            assert r.text == "200\nHello from Python!\n"


def test_self_requests_over_loopback(allowed_app: App, serve_app) -> None:  # type: ignore[no-untyped-def]
    http = allowed_app.http_app(close_app=False)
    try:
        with serve_app(http) as url:
            r = httpx.get(f"{url}/outbound", params={"url": "http://back.spin.internal/hello"}, timeout=30)
            assert r.status_code == 200 and r.text == "200\nHello from Python!\n"
            r = httpx.get(f"{url}/outbound", params={"url": "http://self/static"}, timeout=30)
            assert r.text == "200\nstatic!"
    finally:
        http.close()


def test_self_requests_in_flight_are_capped(tmp_path: Path, http_guest: Path, http_runtime: Runtime) -> None:
    """A guest calling itself through `self` cannot hold unbounded threads: past the cap it gets 503."""
    app = _app(tmp_path, http_guest, http_runtime, ["http://self"])
    try:
        app.self_requests.set_max_in_flight(1)
        # One level deep fits in the cap...
        assert _call(app, "http://self/static") == "200\nstatic!"
        # ...a self-request that makes another one while the first is still in flight does not.
        assert _call(app, "http://self/outbound?url=http://self/static").splitlines()[:2] == ["200", "503"]
        # The slot is given back: the next request works again.
        assert _call(app, "http://self/static") == "200\nstatic!"
    finally:
        app.close()
