"""Fuzzing the tools that read untrusted Wasm: our binary parser (`inspect`), the loader (wasmtime
compile behind `Runtime.load`), the text front end, and `wasmhive inspect`'s table output.

Inputs: random bytes, real modules and components (from `tests/guests`, `tests/components`) with bytes
flipped, inserted, deleted, spliced or cut off, and mutated WAT text. Each reader returns or raises a
wasmhive error (`InvalidModule`, ...): never another exception, never a hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmhive import Runtime
from wasmhive.runtime._expose import expose_memories
from wasmhive.runtime._inspect import Inspection, inspect
from wasmhive.runtime._memcount import defined_memories

from .fuzzing import mutated, survives

pytestmark = pytest.mark.fuzz

TESTS = Path(__file__).parent.parent
WAT_SEEDS = [p.read_text() for p in sorted((TESTS / "guests").glob("*.wat")) if p.name != "syntax_error.wat"]
WAT_SEEDS.append((TESTS / "components" / "echo_bytes.wat").read_text())
WAT_SEEDS.append("""(module
  (import "env" "f" (func $f (param i32) (result i64)))
  (memory 1 2) (memory 0) (table 4 funcref) (global (mut i32) (i32.const 0))
  (tag $e (param i32))
  (func (export "g") (param v128) (result i32) (i32x4.extract_lane 0 (local.get 0)))
  (data (i32.const 0) "hi") (elem (i32.const 0) func 0)
  (@custom "producers" "\\01\\08language\\01\\02C\\02\\0311")
  (start 0))""".replace("(start 0)", ""))


def _binaries() -> list[bytes]:
    out = []
    for text in WAT_SEEDS:
        try:
            out.append(wasmtime.wat2wasm(text))
        except wasmtime.WasmtimeError:
            continue
    return out


BIN_SEEDS = _binaries()
COMPONENT_SEEDS = [b for b in BIN_SEEDS if b[4:8] != b"\x01\x00\x00\x00"]
_health = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large])
_bytes = st.binary(max_size=256) | st.builds(lambda tail: b"\0asm\x01\x00\x00\x00" + tail, st.binary(max_size=256)) \
    | st.builds(lambda tail: b"\0asm\x0d\x00\x01\x00" + tail, st.binary(max_size=256))


@pytest.fixture(scope="module")
def rt() -> Iterator[Runtime]:
    with Runtime(cache=False) as runtime:
        yield runtime


def _read(data: bytes, rt: Runtime) -> None:
    info = survives(lambda: inspect(data, name="fuzz.wasm"))
    if isinstance(info, Inspection):
        if info.kind == "component":
            info = _describe(data)  # what `wasmhive inspect` does: also read the WIT world through wasmtime
        info.to_json()
        _render(info)
    survives(lambda: rt.load(data, name="fuzz.wasm"))
    # The host-side rewriters run before compiling: they must never raise either.
    expose_memories(data)
    defined_memories(data)


def _describe(data: bytes) -> Inspection:
    import tempfile

    from wasmhive.cli._inspect import describe

    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        return describe(f.name, cache=False)


def _render(info: Inspection) -> None:
    from wasmhive.cli import _inspect as cli

    with cli.console.capture():
        cli._print(info)


@_health
@given(data=_bytes)
def test_fuzz_wasm_random_bytes(rt: Runtime, data: bytes) -> None:
    _read(data, rt)


@_health
@given(data=mutated(BIN_SEEDS))
def test_fuzz_wasm_mutated_real_binaries(rt: Runtime, data: bytes) -> None:
    _read(data, rt)


@_health
@given(data=mutated([s.encode() for s in WAT_SEEDS]))
def test_fuzz_wasm_mutated_text(rt: Runtime, data: bytes) -> None:
    _read(data, rt)


@_health
@given(data=mutated(COMPONENT_SEEDS))
def test_fuzz_wasm_mutated_components(rt: Runtime, data: bytes) -> None:
    # Components only, so that wasmtime's type reflection behind the WIT world gets mutated input too.
    _read(data, rt)
