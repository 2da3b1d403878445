"""The compile cache key holds exactly the engine settings that change compiled code.

Proved on wasmtime's own output: a setting left out of the key must leave the serialized artifact
byte-for-byte the same; a setting in the key must change it (or make wasmtime refuse the artifact).
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import wasmtime

from wasmhive import EngineSettings, Runtime, Sandbox
from wasmhive.contracts._leb import uleb
from wasmhive.errors import ConfigError
from wasmhive.runtime._engine import build_engine

GUESTS = Path(__file__).parent / "guests"
# Memory accesses (bounds checks depend on memory settings), recursion (stack checks), SIMD, float
# arithmetic (NaN canonicalization) and a loop (fuel metering) in one module.
PROBE = """(module
  (memory (export "m") 1)
  (func $rec (export "rec") (param i32) (result i32)
    local.get 0 i32.eqz (if (result i32) (then i32.const 0)
      (else local.get 0 i32.const 1 i32.sub call $rec i32.const 1 i32.add)))
  (func (export "sum") (param i32) (result i32) (local i32)
    (loop $l local.get 1 local.get 0 i32.load i32.add local.set 1
      local.get 0 i32.const 4 i32.add local.tee 0 i32.const 4096 i32.lt_u br_if $l)
    local.get 1)
  (func (export "fdiv") (param f32 f32) (result f32) local.get 0 local.get 1 f32.div)
  (func (export "splat") (param i32) (result v128) local.get 0 i32x4.splat local.get 0 i32x4.splat i32x4.add))
"""
NOT_CODEGEN = {
    "pooling": True,
    "pooling_instances": 5,
    "pooling_max_memory": 4 * 1024**3,
    "pooling_keep_resident": 0,
    "max_wasm_stack": 256 * 1024,
}
CODEGEN = {
    "fuel": True,
    "nan_canonicalization": True,
    "simd": False,
    "relaxed_simd": False,
    "memory64": False,
    "multi_memory": False,
    "opt_level": "none",
    "concurrency": False,
}


def artifact(settings: EngineSettings, wat: str = PROBE) -> bytes:
    engine, _ = build_engine(settings)
    return wasmtime.Module(engine, wat).serialize()


def test_every_setting_is_classified() -> None:
    """A new EngineSettings field must be put on one side or the other (and proved) before it ships."""
    assert set(asdict(EngineSettings())) == set(NOT_CODEGEN) | set(CODEGEN)
    assert set(EngineSettings().codegen()) == set(CODEGEN)


@pytest.mark.parametrize(("field", "value"), NOT_CODEGEN.items())
def test_settings_outside_the_key_change_no_compiled_byte(field: str, value: object) -> None:
    base = EngineSettings()
    other = replace(base, **{field: value})
    assert other.fingerprint() == base.fingerprint()
    assert artifact(other) == artifact(base)


@pytest.mark.parametrize(("field", "value"), CODEGEN.items())
def test_settings_in_the_key_change_the_compiled_code(field: str, value: object) -> None:
    base = EngineSettings()
    other = replace(base, **{field: value})
    assert other.fingerprint() != base.fingerprint()
    wat = PROBE if other.simd else PROBE[: PROBE.index('  (func (export "splat")')] + ")"
    assert artifact(other, wat) != artifact(base, wat)


def test_relaxed_simd_without_simd_is_one_key() -> None:
    # `config()` turns relaxed SIMD off whenever SIMD is off: the same engine, so the same key.
    assert EngineSettings(simd=False).fingerprint() == EngineSettings(simd=False, relaxed_simd=False).fingerprint()


def test_pooled_engine_loads_what_the_default_engine_compiled(tmp_path: Path) -> None:
    """`wasmhive up` pools instances, the Python API's `Runtime()` does not: one cache entry serves both."""
    with Runtime(cache=tmp_path) as plain:
        assert plain.load(GUESTS / "hello.wat").from_cache is False
        assert plain.cache is not None and (plain.cache.misses, plain.cache.writes) == (1, 1)
    with Runtime(cache=tmp_path, pooling=True, pooling_max_memory=4 * 1024**3, max_wasm_stack=512 * 1024) as pooled:
        assert pooled.pooling is True
        compiled = pooled.load(GUESTS / "hello.wat")
        assert compiled.from_cache is True
        assert pooled.cache is not None and (pooled.cache.hits, pooled.cache.misses, pooled.cache.writes) == (1, 0, 0)
        assert pooled.run(compiled, sandbox=Sandbox(stdout="capture")).stdout == b"hello\n"
    assert len(list(tmp_path.glob("*/*.cwasm"))) == 1


def test_stack_limit_follows_the_running_engine_not_the_compiling_one(tmp_path: Path) -> None:
    """Code compiled under a big stack limit, loaded from the cache by a small-stack engine, overflows
    at the small engine's limit: leaving `max_wasm_stack` out of the key is safe."""
    depth = 20_000
    with Runtime(cache=tmp_path, max_wasm_stack=2 * 1024 * 1024) as big, \
            big.instantiate(big.load(PROBE.encode())) as inst:
        assert inst.exports.rec(depth) == depth
    with Runtime(cache=tmp_path, max_wasm_stack=64 * 1024) as small:
        compiled = small.load(PROBE.encode())
        assert compiled.from_cache is True
        with small.instantiate(compiled) as inst, pytest.raises(Exception, match="stack"):
            inst.exports.rec(depth)


def test_stack_past_two_mib_is_a_config_error_not_an_abort() -> None:
    # wasmtime's C API panics (aborting the whole process) when max_wasm_stack exceeds its async stack.
    with pytest.raises(ConfigError, match="max_wasm_stack"):
        Runtime(cache=False, max_wasm_stack=4 * 1024 * 1024)


def big_module(size: int) -> bytes:
    """A valid core module of about `size` bytes: one memory and one active data segment."""

    def section(sid: int, body: bytes) -> bytes:
        return bytes([sid]) + uleb(len(body)) + body

    pages = size // 65536 + 1
    memory = section(5, b"\x01\x00" + uleb(pages))
    payload = bytes(range(256)) * (size // 256)
    data = section(11, b"\x01\x00\x41\x00\x0b" + uleb(len(payload)) + payload)
    return b"\0asm\x01\0\0\0" + memory + data


def test_compiling_a_big_module_says_so_with_the_time(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wasm = big_module(3_000_000)
    with caplog.at_level(logging.WARNING, logger="wasmhive.runtime"), Runtime(cache=tmp_path) as rt:
        rt.load(wasm, name="big.wasm")
    assert re.search(r"compiling big\.wasm \(3\.0 MB, not in the compile cache\)", caplog.text), caplog.text
    assert re.search(r"compiled big\.wasm in \d+\.\ds", caplog.text), caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wasmhive.runtime"), Runtime(cache=tmp_path) as rt:
        assert rt.load(wasm, name="big.wasm").from_cache is True
    assert "compil" not in caplog.text, "a cache hit is silent"
