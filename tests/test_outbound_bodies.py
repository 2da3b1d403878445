"""Outbound request bodies in every order the wasi:http 0.2 WIT allows (issue 10), against a real server
on loopback. The guest is `tests/http/bodyguest/app.py` (see its docstring for the orders)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmhive import Limits, Runtime
from wasmhive.capabilities.outbound_http import OutboundPolicy
from wasmhive.http import HttpApp, Request

pytest_plugins = ("http_fixtures", "outbound_fixtures")
pytestmark = pytest.mark.slow  # builds a componentize-py guest
GUEST = Path(__file__).parent / "http" / "bodyguest" / "app.py"


@pytest.fixture(scope="module")
def app(guest_cache: Path, compile_cache: Path, target: tuple[str, list[Any]]) -> Iterator[HttpApp]:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    wasm = componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0", GUEST, cache_dir=guest_cache)
    with Runtime(cache=compile_cache, concurrency=False) as rt, HttpApp.from_component(
            wasm, runtime=rt, name="bodies", limits=Limits(timeout=10.0),
            outbound=OutboundPolicy.parse([target[0]])) as a:
        yield a


def send(app: HttpApp, target: tuple[str, list[Any]], order: str, length: int | None = None) -> list[str]:
    query = f"url={target[0]}/up&order={order}" + (f"&length={length}" if length is not None else "")
    r = app.handle(Request("GET", "/", query=query))
    assert r.status == 200, r.body  # a 504 here is the old bug: the host waited for the deadline
    return r.body.decode().splitlines()


@pytest.mark.parametrize("order", ["before", "after", "chunks"])
def test_post_body_arrives_whole_in_every_order(app: HttpApp, target, order: str) -> None:  # type: ignore[no-untyped-def]
    lines = send(app, target, order)
    # Finished before `handle`: sent with its length. Still open when the connection is ready: streamed
    # (chunked), which for "after" depends on whether the guest's `finish` came first.
    framing = {"before": ["cl=10"], "after": ["cl=10", "chunked"], "chunks": ["chunked"]}[order]
    assert lines[-2] == "status: 200"
    assert lines[-1] in [f"POST {f} 0123456789" for f in framing]
    assert "finish: ok" in lines
    assert not [ln for ln in lines if ln.startswith("write: err")]


def test_a_body_written_after_handle_is_streamed(app: HttpApp, target) -> None:  # type: ignore[no-untyped-def]
    lines = send(app, target, "chunks")
    assert lines[-1] == "POST chunked 0123456789"
    rec = target[1][-1]
    # The guest waits 300 ms between its two writes: the first half reached the server before the second
    # was written, so it was sent on, not held back until `finish`.
    assert len(rec.arrivals) == 2 and rec.arrivals[1] - rec.arrivals[0] >= 0.25


def test_declared_content_length_is_kept_while_streaming(app: HttpApp, target) -> None:  # type: ignore[no-untyped-def]
    lines = send(app, target, "chunks", length=10)
    assert lines[-2:] == ["status: 200", "POST cl=10 0123456789"]


@pytest.mark.parametrize("order", ["empty", "nobody"])
def test_get_without_body(app: HttpApp, target, order: str) -> None:  # type: ignore[no-untyped-def]
    lines = send(app, target, order)
    assert lines[-2:] == ["status: 200", "GET cl=None "]


def test_spin_style_get_with_content_length_zero(app: HttpApp, target) -> None:  # type: ignore[no-untyped-def]
    # spin-sdk's `http.send` declares `content-length: 0`, calls `handle`, then finishes the body.
    assert send(app, target, "empty", length=0)[-2:] == ["status: 200", "GET cl=0 "]


@pytest.mark.parametrize("order", ["drop", "drop-before"])
def test_body_dropped_without_finish_fails_the_request(app: HttpApp, target, order: str) -> None:  # type: ignore[no-untyped-def]
    before = len(target[1])
    lines = send(app, target, order)
    assert lines[-1] == "error: HttpProtocolError"
    if order == "drop-before":
        assert len(target[1]) == before  # nothing was sent for a body known to be broken


def test_finish_short_of_content_length_is_an_error(app: HttpApp, target) -> None:  # type: ignore[no-untyped-def]
    lines = send(app, target, "after", length=15)
    assert lines == ["finish: err HttpRequestBodySize(10)", "error: HttpProtocolError"]


def test_write_past_content_length_is_an_error(app: HttpApp, target) -> None:  # type: ignore[no-untyped-def]
    lines = send(app, target, "before", length=4)
    assert lines == ["write: err HttpRequestBodySize(10)", "finish: err HttpRequestBodySize(0)",
                     "error: HttpProtocolError"]


def test_two_requests_in_a_row_on_one_app(app: HttpApp, target) -> None:  # type: ignore[no-untyped-def]
    # Nothing of one call's body state leaks into the next.
    assert send(app, target, "before")[-1] == "POST cl=10 0123456789"
    assert send(app, target, "empty")[-1] == "GET cl=None "


def test_dropping_the_future_keeps_the_response_body(app: HttpApp, target) -> None:  # type: ignore[no-untyped-def]
    # spin-sdk drops the future-incoming-response once it has the response, before reading the body: the
    # body (arriving 300 ms after the head here) still comes through whole.
    r = app.handle(Request("GET", "/", query=f"url={target[0]}/slow-body&order=before&drop_future=1"))
    assert r.body.decode().splitlines()[-2:] == ["status: 200", "POST cl=10 0123456789"]
