"""Bad guest input to the canon engine is a trap naming what was wrong, never a host error.

Each case is the tiny WAT guest with one call made wrong (pointer, length, alignment, handle index,
handle type, string bytes, a double drop). The guest traps with a message naming the problem; nothing is
raised into the caller; the response fails (a 500 before the head is out, an aborted body after: the
bad calls here come after `response-outparam.set`, except the header name); the next request on the same
executor is served normally.
Unsupported component features are refused at preparation with a one-line `InvalidModule`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmhive import Runtime
from wasmhive.canon import CanonHttpExecutor, parse
from wasmhive.errors import InvalidModule
from wasmhive.http._types import Exchange, Request

TINY = (Path(__file__).parent / "canon" / "tiny.wat").read_text()
HELLO_CALL = "(call $bwf (local.get $os) (i32.const 640) (i32.const 16) (i32.const 320))"


@pytest.fixture(scope="module")
def runtime(compile_cache: Path) -> Iterator[Runtime]:
    with Runtime(cache=compile_cache) as rt:
        yield rt


def serve(ex: CanonHttpExecutor, method: str = "GET", body: bytes = b"") -> Exchange:
    exchange = Exchange(Request(method, "/", headers=[("host", "t")], body=body))
    ex.run(exchange)  # never raises
    return exchange


def variant(old: str, new: str) -> bytes:
    assert old in TINY
    return TINY.replace(old, new).encode()


CASES = {
    "out-of-bounds pointer": (
        HELLO_CALL, "(call $bwf (local.get $os) (i32.const 0x7fff0000) (i32.const 16) (i32.const 320))",
        "list<u8> out of bounds: pointer 2147418112 length 16"),
    "out-of-bounds length": (
        HELLO_CALL, "(call $bwf (local.get $os) (i32.const 640) (i32.const 0x10000000) (i32.const 320))",
        "list<u8> out of bounds: pointer 640 length 268435456"),
    "out-of-bounds result pointer": (
        HELLO_CALL, "(call $bwf (local.get $os) (i32.const 640) (i32.const 16) (i32.const 0x7ffffff0))",
        "result out of bounds"),
    "misaligned result pointer": (
        HELLO_CALL, "(call $bwf (local.get $os) (i32.const 640) (i32.const 16) (i32.const 321))",
        "result pointer 321 not aligned to 4"),
    "unknown handle index": (
        HELLO_CALL, "(call $bwf (i32.const 99) (i32.const 640) (i32.const 16) (i32.const 320))",
        "unknown handle index 99"),
    "handle of the wrong type": (
        HELLO_CALL, "(call $bwf (local.get $b) (i32.const 640) (i32.const 16) (i32.const 320))",
        "is a wasi:http/types@0.2.0#outgoing-body, not a wasi:io/streams@0.2.0#output-stream"),
    "double drop": (
        "(call $drop_os (local.get $os))", "(call $drop_os (local.get $os)) (call $drop_os (local.get $os))",
        "unknown handle index"),
    "invalid UTF-8 string": (
        '(data (i32.const 600) "content-type")', '(data (i32.const 600) "content\\fftype")',
        "invalid UTF-8 string at pointer 600 (byte 7)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_guest_input_traps_naming_it(runtime: Runtime, case: str) -> None:
    old, new, message = CASES[case]
    ex = CanonHttpExecutor(runtime, variant(old, new), name=case)
    bad = serve(ex)
    # The trap's own message (the ABI check that failed), not a host-call failure.
    assert bad.failure is not None and message in bad.failure, bad.failure
    assert not bad.failure.startswith("host call failed"), bad.failure
    assert bad.status == 500 or (bad.channel is not None and bad.channel.state == "aborted")


def test_host_unharmed_after_bad_requests(runtime: Runtime) -> None:
    good = CanonHttpExecutor(runtime, TINY.encode(), name="good")
    bad = CanonHttpExecutor(runtime, variant(*CASES["unknown handle index"][:2]), name="bad")
    for _ in range(3):
        assert serve(bad).failure
        ok = serve(good)
        assert ok.failure is None and ok.status == 200
        assert ok.channel is not None and ok.channel.state == "finished"


def test_unsupported_features_are_refused_clearly() -> None:
    nested = b"""(component (component $c (core module $m)) (instance (instantiate $c)))"""
    import wasmtime
    with pytest.raises(InvalidModule, match="not supported by the canon prototype"):
        parse(bytes(wasmtime.wat2wasm(nested.decode())))
    with pytest.raises(InvalidModule, match="not a component"):
        parse(bytes(wasmtime.wat2wasm("(module)")))


def test_host_call_from_realloc_traps(runtime: Runtime) -> None:
    # realloc runs in the middle of lowering a value into the guest: calling the host from there traps.
    text = TINY.replace(
        "  (core module $mem\n    (memory (export \"memory\") 20)",
        "  (core func $early_drop (canon resource.drop $output-stream))\n"
        "  (core module $mem\n    (import \"h\" \"drop\" (func $drop (param i32)))\n    (memory (export \"memory\") 20)",
    ).replace(
        "(func (export \"realloc\") (param i32 i32 i32 i32) (result i32)",
        "(func (export \"realloc\") (param i32 i32 i32 i32) (result i32)\n      (call $drop (i32.const 1))",
    ).replace(
        "(core instance $mem (instantiate $mem))",
        "(core instance $mem (instantiate $mem (with \"h\" (instance (export \"drop\" (func $early_drop))))))",
    )
    assert text.count("$early_drop") == 2
    bad = serve(CanonHttpExecutor(runtime, text.encode(), name="reentrant"), "POST", b"body to echo")
    assert bad.failure is not None and "host called from realloc or post-return" in bad.failure, bad.failure


def test_unknown_import_is_a_link_error_at_start(runtime: Runtime) -> None:
    from wasmhive.errors import LinkError

    with pytest.raises(LinkError, match=r"import acme:http/types@0\.2\.0 is not provided"):
        CanonHttpExecutor(runtime, variant('"wasi:http/types@0.2.0"', '"acme:http/types@0.2.0"'), name="x")
