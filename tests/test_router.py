"""Spin route semantics and Spin's request headers."""

from __future__ import annotations

import pytest

from wasmhive.errors import ConfigError
from wasmhive.http._router import Router

ROUTES = ["/...", "/api/...", "/api/users/...", "/api/users/me", "/api/users/:id", "/exact", "/files/:dir/..."]


def target(router: Router, path: str) -> str | None:
    m = router.match(path)
    return None if m is None else m.route.raw


@pytest.mark.parametrize(("path", "expected"), [
    ("/", "/..."),
    ("/anything/else", "/..."),
    ("/exact", "/exact"),
    ("/exact/more", "/..."),  # exact routes do not match below themselves
    ("/api", "/api/..."),  # a wildcard matches its own prefix
    ("/api/x", "/api/..."),
    ("/api/users/me", "/api/users/me"),  # literal beats :name
    ("/api/users/42", "/api/users/:id"),  # exact (with a parameter) beats wildcard
    ("/api/users/42/posts", "/api/users/..."),  # longest prefix wins
    ("/files/a/b/c", "/files/:dir/..."),
])
def test_precedence(path: str, expected: str) -> None:
    assert target(Router((r, r) for r in ROUTES), path) == expected


def test_no_match_is_none() -> None:
    assert Router([("/a", 1)]).match("/b") is None


def test_params_and_path_info() -> None:
    r = Router([("/users/:id/...", "u"), ("/static/...", "s"), ("/exact", "e")])
    m = r.match("/users/7/posts/9")
    assert m is not None and m.params == {"id": "7"} and m.path_info == "/posts/9"
    s = r.match("/static")
    assert s is not None and s.path_info == ""
    e = r.match("/exact")
    assert e is not None and e.path_info == ""


def test_spin_headers_with_base() -> None:
    r = Router([("/hello/:name/...", "h")], base="/test")
    m = r.match("/test/hello/ann/a/b")
    assert m is not None
    headers = dict(m.spin_headers(full_url="http://127.0.0.1:3000/test/hello/ann/a/b?x=1", client_addr="127.0.0.1:5"))
    assert headers == {
        "spin-full-url": "http://127.0.0.1:3000/test/hello/ann/a/b?x=1",
        "spin-path-info": "/a/b",
        "spin-matched-route": "/test/hello/:name/...",
        "spin-base-path": "/test",
        "spin-raw-component-route": "/hello/:name/...",
        "spin-component-route": "/hello/:name",
        "spin-client-addr": "127.0.0.1:5",
        "spin-path-match-name": "ann",
    }
    cgi = m.cgi_values(full_url="u", client_addr="c")
    assert cgi["X_MATCHED_ROUTE"] == "/test/hello/:name/..." and cgi["X_PATH_MATCH_NAME"] == "ann"
    assert cgi["X_FULL_URL"] == "u" and cgi["X_PATH_INFO"] == "/a/b"


def test_duplicates_warned_first_wins(caplog: pytest.LogCaptureFixture) -> None:
    r = Router([("/a/:x", "first"), ("/a/:y", "second"), ("/b/...", "b1"), ("/b/...", "b2")])
    assert r.match("/a/1").target == "first"  # type: ignore[union-attr]
    assert r.match("/b/z").target == "b1"  # type: ignore[union-attr]
    assert len(r.warnings) == 2 and "duplicate route '/a/:y'" in r.warnings[0]
    assert "duplicate route" in caplog.text


def test_health_paths_and_reserved() -> None:
    assert Router.is_health("/.well-known/wasmhive/health")
    assert Router.is_health("/.well-known/spin/health")
    assert not Router.is_health("/health")
    with pytest.raises(ConfigError, match="reserved"):
        Router([("/.well-known/spin/...", 1)])


@pytest.mark.parametrize("bad", ["nope", "/a/.../b", "/a/:"])
def test_bad_routes(bad: str) -> None:
    with pytest.raises(ConfigError):
        Router([(bad, 1)])


def test_a_request_is_routed_once_and_the_match_travels_with_it() -> None:
    # The trigger routes once; the executor (behind the app's Spin-header wrapper) gets that match on
    # the exchange and builds Spin's headers from it, without routing again.
    from wasmhive.app._app import SpinHeaders
    from wasmhive.http._app import HttpApp
    from wasmhive.http._router import Route, RouteMatch
    from wasmhive.http._types import Request

    calls: list[str] = []

    class Counting(Router):
        def match(self, path: str) -> RouteMatch | None:
            calls.append(path)
            return super().match(path)

    seen: list[tuple[RouteMatch, list[tuple[str, str]]]] = []

    class Recorder:
        name = "rec"

        def run(self, ex) -> None:  # type: ignore[no-untyped-def]
            seen.append((ex.match, ex.request.headers))
            ex.respond(200, [], b"ok")

    route = Route.parse("/users/:id/...", None, base="/api")
    app = HttpApp(Counting([("/users/:id/...", SpinHeaders(Recorder(), route))], base="/api"))
    r = app.handle(Request(path="/api/users/7/posts", headers=[("spin-path-info", "forged")]))
    assert r.status == 200
    assert calls == ["/api/users/7/posts"]
    match, headers = seen[0]
    assert match.route is route and match.params == {"id": "7"} and match.path_info == "/posts"
    assert ("spin-path-info", "/posts") in headers and ("spin-path-info", "forged") not in headers
    assert ("spin-path-match-id", "7") in headers
