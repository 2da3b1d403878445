"""`wasi:io/poll.poll` over lists of pollables (issue 10): 1, 2 and 50, timers and streams mixed.

The guest (`tests/http/poll.wat.in`, a core module made into a `wasi:http/proxy` component by
wasm-tools) builds the pollables the test asks for, calls `poll` twice over the same list (the borrows
must stay usable) and answers with the ready indexes of each round. Kinds of pollable:
`t<ms>` a monotonic-clock timer, `out` the response body's output stream (writable at once), `in` the
request body's input stream (ready when body bytes or its end arrive).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmhive import Runtime
from wasmhive.app.toolchains import component_new, standard_wit
from wasmhive.http import HttpApp, Request

pytest_plugins = ("http_fixtures",)
TEMPLATE = (Path(__file__).parent / "http" / "poll.wat.in").read_text()
NEVER = "t60000"  # a timer that does not fire while a test runs


def poll_guest(kinds: list[str], cache: Path, tmp: Path) -> Path:
    """The component polling `kinds` (see the module docstring)."""
    lines = []
    for i, kind in enumerate(kinds):
        if kind.startswith("t"):
            make = f"(call $after (i64.const {int(kind[1:]) * 1_000_000}))"
        else:
            make = {"in": "(call $in_subscribe (local.get $is))", "out": "(call $out_subscribe (local.get $os))"}[kind]
        lines.append(f"    (i32.store (i32.const {1024 + 4 * i}) {make})")
    core = tmp / f"poll-{len(kinds)}.wat"
    core.write_text(TEMPLATE.replace("{{CREATE}}", "\n".join(lines)).replace("{{N}}", str(len(kinds))))
    return component_new(core, adapter=None, wit=standard_wit("wasi:http@0.2.0"), world="wasi:http/proxy@0.2.0",
                         cache_dir=cache)


def rounds(body: bytes) -> list[list[int]]:
    """Decode the guest's answer: rounds of (u32 count, count * u32 index)."""
    out, pos = [], 0
    while pos < len(body):
        (n,) = struct.unpack_from("<I", body, pos)
        out.append(list(struct.unpack_from(f"<{n}I", body, pos + 4)))
        pos += 4 + 4 * n
    return out


@pytest.fixture(scope="module")
def rt() -> Iterator[Runtime]:
    with Runtime(cache=False, concurrency=False) as r:
        yield r


@pytest.fixture
def app_for(rt: Runtime, guest_cache: Path, tmp_path: Path) -> Iterator[object]:
    apps: list[HttpApp] = []

    def make(kinds: list[str]) -> HttpApp:
        app = HttpApp.from_component(poll_guest(kinds, guest_cache, tmp_path), runtime=rt, name="poll")
        apps.append(app)
        return app
    yield make
    for app in apps:
        app.close()


@pytest.mark.parametrize("kinds", [
    ["t0"],
    ["out"],
    [NEVER, "out"],
    ["t0", NEVER],
    [NEVER, "t0", "out", NEVER, "out"] * 10,  # 50, mixed
    ["out"] * 50,
], ids=["1-timer", "1-stream", "2-stream-ready", "2-timer-ready", "50-mixed", "50-streams"])
def test_poll_returns_exactly_the_ready_indexes(app_for, kinds: list[str]) -> None:  # type: ignore[no-untyped-def]
    r = app_for(kinds).handle(Request("GET", "/"))
    assert r.status == 200, r.body
    expected = [i for i, k in enumerate(kinds) if k != NEVER]
    assert rounds(r.body) == [expected, expected]


def test_poll_blocks_until_a_timer_fires(app_for) -> None:  # type: ignore[no-untyped-def]
    kinds = [NEVER] * 49 + ["t150"]
    app = app_for(kinds)
    started = time.monotonic()
    r = app.handle(Request("GET", "/"))
    assert r.status == 200, r.body
    assert rounds(r.body) == [[49], [49]]
    assert time.monotonic() - started >= 0.15  # it waited for the timer (no busy "nothing ready" answer)


def test_poll_wakes_on_a_request_body_arriving_late(app_for, serve_app) -> None:  # type: ignore[no-untyped-def]
    kinds = [NEVER, "in", NEVER]
    with serve_app(app_for(kinds)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\nconnection: close\r\n\r\n")
            time.sleep(0.3)  # the guest is blocked in poll: only the body can wake it
            s.sendall(b"late")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    assert rounds(body) == [[1], [1]]


def test_poll_of_an_empty_list_traps(app_for, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    r = app_for([]).handle(Request("GET", "/"))
    # The response was set before the trap: the client sees 200 headers and a body that never finished.
    assert rounds(r.body) == []
    assert "poll: empty list of pollables" in caplog.text


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, body = out + rest[:n], rest[n + 2:]
    return out



def test_the_default_serving_engine_polls_many(guest_cache: Path, tmp_path: Path) -> None:
    """wasmtime 50 traps on a list of 2+ borrows to a host function while its concurrency support is on,
    and refuses components with async builtins (jco's QuickJS output) while it is off: the HTTP trigger's
    own engines (`HttpApp.from_component` without a runtime, `App`, `wasmhive up`) have it off, while a
    plain `Runtime()` keeps wasmtime's default so that typed calls load every component."""
    kinds = ["out", "t0", "out"]
    with HttpApp.from_component(poll_guest(kinds, guest_cache, tmp_path), name="poll") as app:
        assert not app_runtime_concurrency(app)
        r = app.handle(Request("GET", "/"))
    assert r.status == 200, r.body
    assert rounds(r.body) == [[0, 1, 2], [0, 1, 2]]
    with Runtime(cache=False) as rt:
        assert rt.settings.concurrency


def app_runtime_concurrency(app: HttpApp) -> bool:
    executor = app.router.routes[0].target
    return bool(executor.runtime.settings.concurrency)
