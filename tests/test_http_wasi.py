"""The wasi:http host with hand-written WAT components (corner cases) and the fields rules directly."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from wasmhive import Runtime
from wasmhive.errors import LinkError
from wasmhive.http import HttpApp, Request
from wasmhive.wasi import FORBIDDEN, Fields, HeaderError

pytest_plugins = ("http_fixtures",)
MINIMAL = (Path(__file__).parent / "http" / "minimal.wat.in").read_text()


def minimal(mode: int, version: str = "0.2.3", types_version: str | None = None) -> bytes:
    text = MINIMAL.replace("types@VERSION", f"types@{types_version or version}")
    return text.replace("VERSION", version).replace("MODE", str(mode)).encode()


@pytest.fixture(scope="module")
def rt():  # type: ignore[no-untyped-def]
    with Runtime(cache=False, concurrency=False) as r:
        yield r


@pytest.mark.parametrize("version", ["0.2.0", "0.2.3", "0.2.9", "0.2.10"])
def test_any_patch_version_links(rt: Runtime, version: str) -> None:
    with HttpApp.from_component(minimal(0, version), runtime=rt, name="minimal") as app:
        r = app.handle(Request("GET", "/"))
        assert (r.status, r.body) == (418, b"")


def test_other_minor_versions_are_a_start_up_link_error(rt: Runtime) -> None:
    with pytest.raises(LinkError, match=r"wasi:http/types@0\.3\.0"):
        HttpApp.from_component(minimal(0, types_version="0.3.0"), runtime=rt)


def test_error_code_instead_of_a_response_is_500(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    with HttpApp.from_component(minimal(1), runtime=rt, name="errcode") as app, caplog.at_level(logging.INFO):
        r = app.handle(Request("GET", "/"))
    assert (r.status, r.body) == (500, b"")


def test_unfinished_body_cuts_the_connection(rt: Runtime, serve_app) -> None:  # type: ignore[no-untyped-def]
    with HttpApp.from_component(minimal(2), runtime=rt, name="unfinished") as app, serve_app(app) as url:
        # Headers (200) went out, but the body never finished: the client must not see a complete reply.
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url + "/", timeout=10)
        assert app.handle(Request("GET", "/")).status == 200  # and the app keeps serving


def test_not_a_wasi_http_component(rt: Runtime) -> None:
    from wasmhive.errors import InvalidModule

    with pytest.raises(InvalidModule, match="incoming-handler"):
        HttpApp.from_component(b"(component)", runtime=rt)


# -- fields rules --------------------------------------------------------------------------------------
def test_fields_names_values_and_forbidden() -> None:
    f = Fields.checked([("Content-Type", b"text/plain"), ("X-A", b"1")])
    assert f.entries == [("content-type", b"text/plain"), ("x-a", b"1")]
    for bad in ["bad name", "", "x\u00e9", "a:b"]:
        with pytest.raises(HeaderError) as e:
            Fields.checked([(bad, b"v")])
        assert e.value.code == "invalid-syntax"
    for bad_value in [b"a\nb", b"a\rb", b"a\x00b", b" padded"]:
        with pytest.raises(HeaderError) as e:
            f.append("x-b", bad_value)
        assert e.value.code == "invalid-syntax"
    for name in sorted(FORBIDDEN):
        with pytest.raises(HeaderError) as e:
            Fields.checked([(name.title(), b"x")])
        assert e.value.code == "forbidden"
    assert {"connection", "host", "transfer-encoding", "upgrade", "keep-alive"} <= FORBIDDEN


def test_fields_immutable_copies_and_multi_values() -> None:
    f = Fields()
    f.append("x-a", b"1")
    f.append("X-A", b"2")
    assert f.get("x-A") == [b"1", b"2"] and f.has("X-a")
    f.set("x-a", [b"3"])
    assert f.entries == [("x-a", b"3")]
    frozen = f.copy(mutable=False)
    for op in (lambda: frozen.append("y", b"1"), lambda: frozen.set("x-a", []), lambda: frozen.delete("x-a")):
        with pytest.raises(HeaderError) as e:
            op()
        assert e.value.code == "immutable"
    thawed = frozen.copy(mutable=True)
    thawed.delete("x-a")
    assert thawed.entries == [] and frozen.entries == [("x-a", b"3")]
