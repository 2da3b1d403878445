"""The runtime core with real guests: loading, calling, limits, traps, engine options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import wasmtime

from wasmhive import (
    Compiled,
    ConfigError,
    DeadlineExceeded,
    EngineSettings,
    GuestTrap,
    InvalidModule,
    LimitExceeded,
    Limits,
    LinkError,
    Runtime,
    Sandbox,
)
from wasmhive.runtime import detect_kind, parse_duration, parse_size

GUESTS = Path(__file__).parent / "guests"

ADD = """(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (global (export "answer") i32 (i32.const 42)))"""


def test_load_text_and_binary_give_the_same_module(runtime: Runtime) -> None:
    from_text = runtime.load(ADD.encode(), name="add.wat")
    binary = bytes(wasmtime.wat2wasm(ADD))
    assert isinstance(binary, bytes) and binary[:4] == b"\0asm"
    assert detect_kind(binary) == ("module", False)
    from_binary = runtime.load(binary)
    assert from_binary.sha256 == from_text.sha256
    assert from_binary is from_text, "the same bytes load once per Runtime"


def test_load_detects_components_from_the_header(runtime: Runtime) -> None:
    comp = runtime.load(b"(component)")
    assert isinstance(comp, Compiled) and comp.is_component and comp.kind == "component"
    with pytest.raises(TypeError):
        _ = comp.module


def test_instantiate_and_call_exports(runtime: Runtime) -> None:
    with runtime.instantiate(ADD.encode()) as inst:
        assert inst.exports.add(2, 40) == 42
        assert inst.exports["add"](-1, 1) == 0
        assert set(inst.exports) == {"add", "answer"}
        assert inst.call("add", 1, 2) == 3


def test_instantiating_a_component_as_a_core_module_is_refused(runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match="component"):
        runtime.instantiate(b"(component)")


def test_run_captures_stdout(runtime: Runtime) -> None:
    result = runtime.run(GUESTS / "hello.wat", sandbox=Sandbox(stdout="capture"))
    assert result.exit_code == 0
    assert result.stdout == b"hello\n"
    assert result.stderr == b""


def test_run_without_capture_discards_output(runtime: Runtime) -> None:
    result = runtime.run(GUESTS / "hello.wat")
    assert result.exit_code == 0 and result.stdout == b""


def test_run_refuses_a_module_without_start(runtime: Runtime) -> None:
    with pytest.raises(InvalidModule, match="_start"):
        runtime.run(ADD.encode())


def test_missing_import_is_a_link_error(runtime: Runtime) -> None:
    with pytest.raises(LinkError, match="wasmhive:nowhere/api"):
        runtime.run(GUESTS / "needs_import.wat")


def test_trap_carries_code_and_backtrace(runtime: Runtime) -> None:
    with pytest.raises(GuestTrap) as info:
        runtime.run(GUESTS / "trap.wat")
    err = info.value
    assert err.code == "unreachable"
    names = [f.func for f in err.backtrace]
    assert names[:3] == ["inner", "middle", "outer"]
    assert "inner" in err.short_backtrace()


def test_deep_recursion_is_a_stack_overflow_trap(runtime: Runtime) -> None:
    with pytest.raises(GuestTrap) as info:
        runtime.run(GUESTS / "recursion.wat")
    assert info.value.code == "stack_overflow"


def test_a_smaller_wasm_stack_overflows_sooner(tmp_path: Path) -> None:
    wat = """(module (func $d (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
          (else (i32.add (call $d (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
      (export "depth" (func $d)))"""
    with Runtime(cache=False, max_wasm_stack=64 * 1024) as small, Runtime(cache=False) as big:
        assert big.instantiate(wat.encode()).exports.depth(20_000) == 20_000
        with pytest.raises(GuestTrap) as info:
            small.instantiate(wat.encode()).exports.depth(20_000)
        assert info.value.code == "stack_overflow"


def test_infinite_loop_ends_at_the_deadline(runtime: Runtime) -> None:
    with pytest.raises(DeadlineExceeded) as info:
        runtime.run(GUESTS / "loop.wat", limits=Limits(timeout=0.1))
    assert info.value.limit == "timeout" and info.value.value == 0.1
    assert isinstance(info.value, LimitExceeded)


def test_deadline_can_be_rearmed_per_call(runtime: Runtime) -> None:
    inst = runtime.instantiate(b'(module (func (export "spin") (loop $l (br $l))))', limits=Limits(timeout=0.05))
    with pytest.raises(DeadlineExceeded):
        inst.exports.spin()
    runtime.set_deadline(inst.store, 0.05)
    with pytest.raises(DeadlineExceeded):
        inst.exports.spin()


def test_fuel_limit(tmp_path: Path) -> None:
    with Runtime(cache=False, fuel=True) as rt:
        with pytest.raises(LimitExceeded) as info:
            rt.run(GUESTS / "loop.wat", limits=Limits(fuel=10_000))
        assert info.value.limit == "fuel" and info.value.value == 10_000
        # Enough fuel: a short program finishes.
        assert rt.run(GUESTS / "hello.wat", limits=Limits(fuel=1_000_000)).exit_code == 0


def test_fuel_limit_needs_a_fuel_runtime(runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match="fuel=True"):
        runtime.run(GUESTS / "hello.wat", limits=Limits(fuel=10))


@pytest.mark.parametrize("exported", [True, False], ids=["exported-memory", "hidden-memory"])
def test_memory_grow_bomb_hits_the_memory_limit(runtime: Runtime, exported: bool) -> None:
    wat = (GUESTS / "grow_bomb.wat").read_text()
    if exported:
        wat = wat.replace("(memory 1)", '(memory (export "memory") 1)')
    with pytest.raises(LimitExceeded) as info:
        runtime.run(wat.encode(), limits=Limits(memory=2 * 1024 * 1024))
    assert info.value.limit == "memory" and info.value.value == 2 * 1024 * 1024


def test_memory_grow_is_refused_at_the_limit_without_trapping(runtime: Runtime) -> None:
    wat = b"""(module (memory (export "memory") 1)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"""
    inst = runtime.instantiate(wat, limits=Limits(memory=4 * 65536))
    assert inst.exports.grow(3) == 1
    assert inst.exports.grow(1) == -1, "a refused memory.grow returns -1 to the guest"
    assert len(inst.memory) == 4 * 65536


def test_initial_memory_over_the_limit_fails_at_instantiation(runtime: Runtime) -> None:
    with pytest.raises(LimitExceeded) as info:
        runtime.instantiate(b'(module (memory 64) (func (export "_start")))', limits=Limits(memory=65536))
    assert info.value.limit == "memory"


def test_memory_count_is_capped_so_the_per_memory_limit_bounds_the_total(runtime: Runtime) -> None:
    # wasmtime's memory limit is per memory: without a cap on how many, a guest multiplies it.
    many = "(module " + " ".join("(memory 1)" for _ in range(Limits().memories + 1)) + ")"  # type: ignore[operator]
    with pytest.raises(LimitExceeded) as info:
        runtime.instantiate(many.encode())
    assert info.value.limit == "memories"
    assert "memories = 16" in str(info.value)
    tables = b"(module (table 1 funcref) (table 1 funcref))"
    with pytest.raises(LimitExceeded) as info:
        runtime.instantiate(tables, limits=Limits(tables=1))
    assert info.value.limit == "tables"
    runtime.instantiate(b"(module (memory 1) (memory 1))", limits=Limits(memories=2))


def test_pooling_allocator_runs_guests() -> None:
    with Runtime(cache=False, pooling=True, pooling_instances=16,
                 pooling_max_memory=4 * 1024 * 1024) as rt:
        assert rt.pooling is True
        for _ in range(40):  # more runs than slots: slots are reused
            assert rt.run(GUESTS / "hello.wat", sandbox=Sandbox(stdout="capture")).stdout == b"hello\n"


def test_pooling_allocator_exhaustion_and_oversized_memories_are_clear() -> None:
    with Runtime(cache=False, pooling=True, pooling_instances=2, pooling_max_memory=1024 * 1024) as rt:
        tiny = rt.load(GUESTS / "tiny.wat")
        alive = []
        with pytest.raises(LimitExceeded) as info:
            for _ in range(100):
                alive.append(rt.instantiate(tiny))
        assert info.value.limit == "pooling_instances" and "no free slot" in str(info.value)
        alive.clear()
        assert rt.instantiate(tiny).exports.add(1, 2) == 3, "slots come back when instances are dropped"
        with pytest.raises(InvalidModule, match="pooling_max_memory"):
            rt.load(b"(module (memory 100))")


def test_instances_are_freed_without_the_garbage_collector(runtime: Runtime) -> None:
    import gc
    import weakref

    gc.disable()
    try:
        inst = runtime.instantiate(ADD.encode())
        assert inst.exports.add(1, 1) == 2
        store = weakref.ref(inst.store)
        del inst
        assert store() is None, "no reference cycle keeps the store (and its pool slot) alive"
    finally:
        gc.enable()


def test_pooling_allocator_falls_back_when_it_cannot_reserve(caplog: pytest.LogCaptureFixture) -> None:
    # A million 4 GiB slots is far more address space than any machine can reserve.
    with caplog.at_level(logging.WARNING, logger="wasmhive.runtime"), \
            Runtime(cache=False, pooling=True, pooling_instances=1_000_000,
                    pooling_max_memory=4 * 1024**3) as rt:
        assert rt.pooling is False
        assert rt.run(GUESTS / "hello.wat", sandbox=Sandbox(stdout="capture")).stdout == b"hello\n"
    assert "pooling allocator unavailable" in caplog.text


def test_engine_settings_key_the_cache() -> None:
    base = EngineSettings()
    assert base.fingerprint() == EngineSettings().fingerprint()
    assert base.fingerprint() != EngineSettings(simd=False).fingerprint()
    assert base.fingerprint() != EngineSettings.deterministic().fingerprint()
    # Pool sizes change no compiled code, so they do not split the cache.
    assert base.fingerprint() == EngineSettings(pooling_instances=5).fingerprint()


def test_simd_off_rejects_simd_modules() -> None:
    simd = b'(module (func (export "f") (result v128) (v128.const i32x4 1 2 3 4)))'
    with Runtime(cache=False) as on:
        on.load(simd)
    with Runtime(cache=False, simd=False) as off, pytest.raises(InvalidModule, match=r"feature|SIMD|simd"):
        off.load(simd)


def test_bad_engine_options_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        Runtime(cache=False, no_such_option=1)
    with pytest.raises(ConfigError):
        Runtime(cache=False, max_wasm_stack=10)
    with pytest.raises(ConfigError):
        Runtime(EngineSettings(), cache=False, fuel=True)


def test_limits_validate_and_parse() -> None:
    assert parse_size("64MiB") == 64 * 1024**2
    assert parse_size("10MB") == 10_000_000
    assert parse_size(4096) == 4096
    assert parse_duration("250ms") == pytest.approx(0.25)
    assert parse_duration("2m") == 120.0
    for bad in ("lots", "12 parsecs"):
        with pytest.raises(ConfigError):
            parse_size(bad)
        with pytest.raises(ConfigError):
            parse_duration(bad)
    with pytest.raises(ConfigError):
        Limits(memory=-1)
    with pytest.raises(ConfigError):
        Limits(timeout=0)
    assert Limits().with_(fuel=5).fuel == 5
    assert Limits.unlimited().memory is None


def test_runtime_close_stops_the_ticker() -> None:
    rt = Runtime(cache=False)
    rt.close()
    rt.close()
    assert rt.closed and not rt._ticker.is_alive()


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    monkeypatch.setenv("WASMHIVE_CACHE", str(tmp_path))
    runpy.run_path(str(Path(__file__).parents[1] / "examples" / "runtime" / "api.py"), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out == ["0 b'Hello from a wasmhive sandbox!\\n'", "10",
                   "timeout - guest interrupted: ran past its 0.1s deadline"]
