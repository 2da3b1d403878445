"""The exact wasi:http values a real guest gets from the host: variant cases and payloads, `err` results,
results nested in options (issue 12: the WASI layer on the component layer's one value convention).

The guest (`tests/http/typedguest/app.py`, componentize-py) answers with the `repr` its own bindings made
of each value, so a wrong case, a lost payload or a wrong nesting level shows up here as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmhive import Limits, Runtime
from wasmhive.capabilities.outbound_http import OutboundPolicy
from wasmhive.http import HttpApp, Request

pytestmark = pytest.mark.slow  # builds a componentize-py guest
GUEST = Path(__file__).parent / "http" / "typedguest" / "app.py"
NOWHERE = "nothing.invalid"  # allowed below; `.invalid` never resolves (RFC 2606)


@pytest.fixture(scope="module")
def answers(guest_cache: Path, compile_cache: Path) -> Iterator[dict[str, str]]:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    wasm = componentize_py(standard_wit("wasi:http@0.2.0"), "wasi:http/proxy@0.2.0", GUEST, cache_dir=guest_cache)
    with Runtime(cache=compile_cache, concurrency=False) as rt, HttpApp.from_component(
            wasm, runtime=rt, name="typed", limits=Limits(timeout=10.0),
            outbound=OutboundPolicy.parse([f"http://{NOWHERE}"])) as app:
        r = app.handle(Request("PURGE", "/", query=f"dns={NOWHERE}", body=b"ignored"))
        assert r.status == 200, r.body
        yield dict(line.split("=", 1) for line in r.text.splitlines())


def test_incoming_method_and_scheme_variants(answers: dict[str, str]) -> None:
    assert answers["method"] == "Method_Other(value='PURGE')"  # a method with no case of its own
    assert answers["scheme"] == "Scheme_Http()"


def test_a_second_consume_or_stream_is_err(answers: dict[str, str]) -> None:
    assert answers["consume"] == "IncomingBody"
    assert answers["consume-again"] == "err None"
    assert answers["stream-again"] == "err None"


def test_future_trailers_nest_results_in_an_option(answers: dict[str, str]) -> None:
    # option<result<result<option<trailers>, error-code>>>: some(ok(ok(none))), then some(err) once taken
    assert answers["trailers"] == "Ok(value=Ok(value=None))"
    assert answers["trailers-again"] == "Err(value=None)"


def test_outgoing_request_setters(answers: dict[str, str]) -> None:
    assert answers["set-method"] == "None" and answers["method-back"] == "Method_Other(value='PURGE')"
    assert answers["bad-method"] == "err None"  # not an HTTP token
    assert answers["set-scheme"] == "None" and answers["scheme-back"] == "Scheme_Other(value='ftp')"
    assert answers["bad-path"] == "err None" and answers["bad-authority"] == "err None"
    assert answers["timeout"] == "5000000"


def test_outgoing_handler_errors(answers: dict[str, str]) -> None:
    assert answers["ftp"] == "err ErrorCode_HttpProtocolError()"  # a scheme other than http/https
    assert answers["denied"] == "err ErrorCode_HttpRequestDenied()"
    # Allowed, but the name never resolves: the future holds some(ok(err(DNS-error({rcode, info-code})))).
    dns = answers["dns"]
    assert dns.startswith("Ok(value=Err(value=ErrorCode_DnsError(value=DnsErrorPayload(rcode='")
    assert dns.endswith("', info_code=None))))")
    assert answers["dns-again"] == "Err(value=None)"  # the value was taken
