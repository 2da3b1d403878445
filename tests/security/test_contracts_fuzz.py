"""Fuzzers over the contract VM's parsers of untrusted input: Candid binary and text, the JSON API's
request bodies, and the deploy path (admission, rewriter, instantiation) over mutated and generated
modules. Each asserts only "a wasmhive error or success" (never another exception, never a 500)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wasmhive.contracts import CandidError, ContractVM, Identity, build_motoko, decode, encode, parse_args
from wasmhive.contracts._asgi import ContractsApp, sign_request
from wasmhive.errors import BuildError, WasmhiveError
from wasmhive.runtime import EngineSettings, Runtime

pytestmark = pytest.mark.fuzz
ROOT = Path(__file__).parent.parent.parent
SEED_WATS = [ROOT / "examples" / "contracts" / "counter32.wat", ROOT / "tests" / "contracts" / "sysapi.wat"]
API_DID = """type tree = variant { leaf : nat8; node : vec tree };
service : {
  inc : (record { a : nat8; b : opt text; c : vec principal; d : variant { x; y : int } }, blob, tree) -> (nat64);
  get : () -> (nat64) query;
}"""
_PER_TEST = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime(EngineSettings.deterministic()) as rt:
        yield rt


# -- Candid binary -------------------------------------------------------------------------------------
_VALID = [
    encode(["nat", "text"], [5, "hi"]),
    encode([("vec", ("opt", "int"))], [[1, None, -3]]),
    encode([("record", ((0, "a", "nat8"), (1, "b", ("vec", "principal"))))], [{"a": 1, "b": ["aaaaa-aa"]}]),
    encode([("variant", ((5, "x", "null"), (9, "y", "float64")))], [{"y": 1.5}]),
    encode(["blob", "bool", "int64"], [b"\x00\xff", True, -1]),
]


@st.composite
def _mutated_candid(draw: st.DrawFn) -> bytes:
    b = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(4, max(4, len(b) - 1)))
        op = draw(st.integers(0, 2))
        if op == 0 and i < len(b):
            b[i] = draw(st.integers(0, 255))
        elif op == 1:
            del b[i:i + draw(st.integers(1, 4))]
        else:
            b[i:i] = draw(st.binary(min_size=1, max_size=6))
    return bytes(b)


@given(st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda b: b"DIDL" + b), _mutated_candid()))
def test_fuzz_candid_binary_decode(data: bytes) -> None:
    with contextlib.suppress(CandidError):
        decode(data)


# -- Candid text ----------------------------------------------------------------------------------------
_TOKENS = ["(", ")", "{", "}", ";", ",", "=", ":", "opt", "vec", "record", "variant", "blob", "principal",
           "null", "true", "nat", "nat8", "int", "text", "float64", "reserved", "0", "01", "-7", "0x_ff", "1.5e3",
           "4294967296", '"a"', '"\\u{41}"', '"\\u{110000}"', '"\\ff"', '"\\q"', '"aaaaa-aa"', "x", "_1_"]


@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(_TOKENS), max_size=60).map(" ".join)))
def test_fuzz_candid_text_parse(text: str) -> None:
    try:
        values, types = parse_args(text)
    except WasmhiveError:  # a CandidError, or a principal that does not parse
        return
    if all(t is not None for t in types):
        with contextlib.suppress(CandidError):
            decode(encode(types, values))


# -- the JSON API -----------------------------------------------------------------------------------------
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                     max_leaves=30)
_BODIES = st.one_of(
    st.binary(max_size=200),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"args": _JSON}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"args": st.lists(_JSON, max_size=4)}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"candid": st.lists(st.sampled_from(_TOKENS), max_size=40).map(" ".join)})
    .map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"candid": st.just("()"), "sender_pubkey": _JSON, "signature": _JSON, "expiry": _JSON})
    .map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def api(runtime: Runtime) -> Iterator[tuple[ContractsApp, dict[str, Any]]]:
    with ContractVM(None, runtime=runtime) as vm:
        vm.deploy(wasmtime.wat2wasm(SEED_WATS[0].read_text()), name="counter", did=API_DID)
        signer = Identity("fuzz")
        good = {"candid": "()", **sign_request(signer, "update", vm.canister("counter").id.text, "inc",
                                               b"DIDL\x00\x00")}
        yield ContractsApp(vm=vm), good


@_PER_TEST
@given(st.sampled_from(["/contracts/counter/update/inc", "/contracts/counter/query/get", "/contracts/counter/update/x",
                        "/contracts/nobody/update/inc", "/contracts"]), _BODIES, st.booleans())
def test_fuzz_contract_json_api(api: tuple[ContractsApp, dict[str, Any]], path: str, body: bytes,
                                tamper_signed: bool) -> None:
    app, good = api
    if tamper_signed:  # a signed body with one field replaced by the fuzzer's data
        try:
            extra = json.loads(body)
        except ValueError:
            extra = None
        body = json.dumps({**good, "signature": extra} if not isinstance(extra, dict) else {**good, **extra}).encode()

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vm") as client:
            return await client.post(path, content=body)

    r = asyncio.run(go())
    assert r.status_code in (200, 400, 403, 404, 405, 413), (r.status_code, r.text[:300])
    assert isinstance(r.json(), (dict, list))


# -- the deploy path ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_modules() -> list[bytes]:
    seeds = [bytes(wasmtime.wat2wasm(p.read_text())) for p in SEED_WATS]
    return [*seeds, build_motoko(ROOT / "examples" / "contracts" / "Counter.mo")[0]]


@st.composite
def _mutated_module(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    b = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(8, len(b) - 1))
        op = draw(st.integers(0, 3))
        if op == 0:
            b[i] = draw(st.integers(0, 255))
        elif op == 1:
            del b[i:i + draw(st.integers(1, 16))]
        elif op == 2:
            b[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            b[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(b)


def _deploy(runtime: Runtime, module: bytes) -> None:
    with ContractVM(None, runtime=runtime) as vm:
        try:
            c = vm.deploy(module, cycles=5_000_000)  # few cycles: a looping init ends quickly
        except WasmhiveError:
            return
        for method in c.methods[:3]:
            vm.update(c, method, b"DIDL\x00\x00") if c.export_kind(method) == "update" else \
                vm.query(c, method, b"DIDL\x00\x00")


@_PER_TEST
@given(st.data())
def test_fuzz_deploy_mutated_modules(runtime: Runtime, seed_modules: list[bytes], data: st.DataObject) -> None:
    _deploy(runtime, data.draw(_mutated_module(seed_modules)))


# A quarter of the budget: each example runs wasm-tools and compiles a module.
@settings(_PER_TEST, max_examples=max(10, settings.default.max_examples // 4))
@given(st.binary(min_size=16, max_size=600), st.booleans())
def test_fuzz_deploy_smith_modules(runtime: Runtime, seed: bytes, no_imports: bool) -> None:
    from wasmhive.app.toolchains import wasm_tools

    flags = ["--max-imports", "0"] if no_imports else []
    try:
        module = wasm_tools("smith", *flags, "--simd-enabled", "false", "--threads-enabled", "false",
                            "--export-everything", "true", input=seed)
    except BuildError:  # the seed did not make a module (wasm-smith's exit code 2)
        assume(False)
        return
    _deploy(runtime, module)
