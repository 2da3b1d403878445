"""Candid text and JSON from users are parsed with clear errors and a nesting limit (issue 11, item 8).

Once, `("\\u{110000}")`, bad escapes, `01` and 5,000-deep `opt`/`vec`/`record` gave tracebacks
(ValueError, RecursionError) in `contract call`, and 100,000-deep JSON or Candid sent to the contract
JSON API was a 500. Now: one `CandidError` line naming the position, `MAX_NESTING` levels at most,
and 400 from the API.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from wasmhive.contracts import CandidError, ContractVM, decode, parse_args
from wasmhive.contracts._asgi import ContractsApp
from wasmhive.contracts._candid import MAX_NESTING
from wasmhive.runtime import EngineSettings, Runtime

ROOT = Path(__file__).parent.parent.parent
COUNTER_WAT = ROOT / "examples" / "contracts" / "counter32.wat"
# The counter's `inc` ignores its argument: this interface gives it a recursive one to nest JSON in.
NESTED_DID = "type T = vec T; service : { inc : (T) -> (nat64); get : (blob) -> (nat64) query }"


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime(EngineSettings.deterministic()) as rt:
        yield rt


@pytest.mark.parametrize(("text", "message"), [
    ('("\\u{110000}")', "is not a Unicode scalar value"),
    ('("\\u{d800}")', "is not a Unicode scalar value"),
    ('("\\u{}")', "bad unicode escape"),
    ('("\\u41")', "bad unicode escape"),
    ('("\\q")', "bad escape"),
    ('("\\4")', "bad escape"),
    ("(blob 5)", "blob needs a quoted literal"),
    ("(record { 4294967296 = 1 })", "not a 32-bit natural number"),
    ("(1, )x", "unexpected 'x'"),
    ("(1 : nat8", "expected ')'"),
    ("(" + "opt " * 5000 + "1)", f"nested more than {MAX_NESTING} levels deep"),
    ("(" + "vec { " * 5000 + "}" * 5000 + ")", f"nested more than {MAX_NESTING} levels deep"),
    ("(" + "record { " * 5000 + "}" * 5000 + ")", f"nested more than {MAX_NESTING} levels deep"),
    ("(" + "variant { a = " * 5000 + "1" + " }" * 5000 + ")", f"nested more than {MAX_NESTING} levels deep"),
    ("(" + "(" * 5000 + "1" + ")" * 5000 + ")", f"nested more than {MAX_NESTING} levels deep"),
    ("(1 : " + "vec " * 5000 + "nat)", f"nested more than {MAX_NESTING} levels deep"),
    ("(" + "9" * 5000 + ")", "ValueError"),
])
def test_bad_candid_text_is_one_error_with_its_position(text: str, message: str) -> None:
    with pytest.raises(CandidError, match=r"at character [0-9]+") as info:
        parse_args(text)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_edge_values_that_are_fine() -> None:
    assert parse_args("(01, 0x_ff, -007)")[0] == [1, 255, -7]  # leading zeros are decimal, as in Candid
    assert parse_args('("\\u{10FFFF}\\41\\n")')[0] == ["\U0010ffff" + "A\n"]
    values, types = parse_args("(" + "opt " * (MAX_NESTING - 1) + "1)")  # at the limit: accepted
    assert values == [1]
    t = types[0]
    for _ in range(MAX_NESTING - 1):
        assert t[0] == "opt"
        t = t[1]
    assert t == "nat"


def test_deep_binary_candid_is_refused() -> None:
    # type 0 = opt type 0, and a value 5,000 `opt`s deep.
    recursive = b"DIDL\x01\x6e\x00\x01\x00" + b"\x01" * 5000 + b"\x00"
    with pytest.raises(CandidError, match=f"nested more than {MAX_NESTING} levels deep"):
        decode(recursive)
    record_loop = b"DIDL\x01\x6c\x01\x00\x00\x01\x00"  # type 0 = record { 0 : type 0 }: no bytes consumed
    with pytest.raises(CandidError, match="nested more than"):
        decode(record_loop)


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "contract", "--state",
                           str(tmp / "state"), *args], capture_output=True, text=True, timeout=120, env=env, cwd=tmp)


def test_cli_candid_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "counter.wat").write_text(COUNTER_WAT.read_text())
    assert _cli(tmp_path, "deploy", "counter.wat").returncode == 0
    for args in ('("\\u{110000}")', "(" + "opt " * 5000 + "1)", "(" + "record { " * 5000 + "}" * 5000 + ")"):
        p = _cli(tmp_path, "call", "counter", "inc", args)
        assert p.returncode == CandidError.exit_code and "Traceback" not in p.stderr, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: bad Candid arguments at character "), p.stderr
    deep_json = "[" * 20_000 + "]" * 20_000  # (a command line argument is at most 128 KiB)
    p = _cli(tmp_path, "call", "counter", "inc", "--json", deep_json)
    assert p.returncode != 0 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert _cli(tmp_path, "call", "counter", "get").stdout == "(0 : nat64)\n"  # nothing ran


def _post(app: ContractsApp, path: str, content: bytes) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vm") as client:
            return await client.post(path, content=content, headers={"content-type": "application/json"})
    return asyncio.run(go())


def test_json_api_answers_400_to_deep_or_bad_input(runtime: Runtime) -> None:
    import json

    with ContractVM(None, runtime=runtime) as vm:
        vm.deploy(wasmtime.wat2wasm(COUNTER_WAT.read_text()), name="counter", did=NESTED_DID)
        app = ContractsApp(vm=vm)
        path = "/contracts/counter/update/inc"
        bodies: list[tuple[bytes, str]] = [
            (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
            (b'{"args": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested too deeply"),
            (json.dumps({"candid": "(" + "opt " * 100_000 + "null)"}).encode(), "nested more than"),
            (json.dumps({"candid": "(" + "vec {" * 100_000 + "}" * 100_000 + ")"}).encode(), "nested more than"),
            (json.dumps({"candid": '("\\u{110000}")'}).encode(), "not a Unicode scalar value"),
            (json.dumps({"args": [_nest(MAX_NESTING + 50)]}).encode(), "nested more than"),
            (b'{"args": [1' + b"0" * 5000 + b"]}", "not acceptable JSON"),
            (json.dumps({"args": [[1]]}).encode(), "does not fit"),
            (json.dumps({"args": 5}).encode(), "must be a JSON array"),
        ]
        for body, message in bodies:
            r = _post(app, path, body)
            assert r.status_code == 400 and message in r.json()["error"], (body[:40], r.status_code, r.text[:300])
        r = _post(app, "/contracts/counter/query/get", json.dumps({"args": ["not hex"]}).encode())
        assert r.status_code == 400 and "does not fit Candid type blob" in r.json()["error"], r.text
        ok = _post(app, path, json.dumps({"args": [_nest(10)]}).encode())
        assert ok.status_code == 200 and ok.json()["status"] == "replied"
        assert vm.call("counter", "get", "(blob \"\")") == "(1 : nat64)"  # only the good request ran


def _nest(depth: int) -> Any:
    v: Any = []
    for _ in range(depth):
        v = [v]
    return v
