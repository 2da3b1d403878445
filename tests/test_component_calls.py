"""Instances and calls: stateful vs fresh, limits per call (deadline, fuel, memory), traps, resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.hosts import kitchen_imports
from wasmhive import DeadlineExceeded, GuestTrap, LimitExceeded, Limits, Runtime, Sandbox, WasmhiveError
from wasmhive.component import ResourceHandle

pytest_plugins = ["components.fixtures"]

# A hand-written component: canonical ABI for scalar signatures is just the core function.
STATE_WAT = """
(component
  (core module $m
    (memory (export "memory") 1)
    (global $n (mut i32) (i32.const 0))
    (func (export "bump") (result i32)
      global.get $n i32.const 1 i32.add global.set $n global.get $n)
    (func (export "spin") (loop $l br $l))
    (func (export "boom") unreachable)
    (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))
  (core instance $i (instantiate $m))
  (func (export "bump") (result u32) (canon lift (core func $i "bump")))
  (func (export "spin") (canon lift (core func $i "spin")))
  (func (export "boom") (canon lift (core func $i "boom")))
  (func (export "grow") (param "pages" u32) (result s32) (canon lift (core func $i "grow"))))
"""


@pytest.fixture
def state(runtime: Runtime) -> Any:
    return runtime.component(STATE_WAT.encode(), limits=Limits(timeout=0.2, memory=4 * 65536))


def test_default_instance_is_stateful(state: Any) -> None:
    assert [state.exports.bump() for _ in range(3)] == [1, 2, 3]
    with state.instantiate() as other:
        assert other.exports.bump() == 1  # its own store and state
    assert state.exports.bump() == 4


def test_fresh_runs_every_call_in_a_new_instance(runtime: Runtime) -> None:
    fresh = runtime.component(STATE_WAT.encode(), fresh=True)
    assert [fresh.exports.bump() for _ in range(3)] == [1, 1, 1]


def test_deadline_applies_per_call(state: Any) -> None:
    with pytest.raises(DeadlineExceeded):
        state.exports.spin()
    # The trapped default instance is replaced; the deadline is re-armed for each call.
    assert state.exports.bump() == 1


def test_fuel_limit(tmp_path: Path) -> None:
    with Runtime(fuel=True, cache=tmp_path) as rt:
        comp = rt.component(STATE_WAT.encode(), limits=Limits(fuel=10_000))
        assert comp.exports.bump() == 1
        with pytest.raises(LimitExceeded) as e:
            comp.exports.spin()
        assert e.value.limit == "fuel"


def test_memory_limit_refuses_growth(state: Any) -> None:
    assert state.exports.grow(1) == 1  # 1 → 2 pages
    assert state.exports.grow(100) == -1  # past the 4-page limit: memory.grow fails


def test_trap_then_instance_is_unusable(state: Any) -> None:
    inst = state.instantiate()
    with pytest.raises(GuestTrap) as e:
        inst.exports.boom()
    assert e.value.code == "unreachable"
    with pytest.raises(WasmhiveError, match="trapped earlier"):
        inst.exports.bump()
    inst.close()
    with pytest.raises(WasmhiveError, match="closed"):
        inst.exports.bump()


@pytest.fixture
def counters(crt: Runtime, kitchen_wasm: Path) -> Any:
    comp = crt.component(kitchen_wasm, imports=kitchen_imports())
    with comp.instantiate() as inst:
        yield inst.exports.echo


def test_resource_constructor_methods_and_statics(counters: Any) -> None:
    c = counters.Counter(5)
    assert isinstance(c, ResourceHandle)
    assert c.resource == "counter"
    assert c.increment(2) == 7
    assert c.increment(by=3) == 10
    assert c.get() == 10
    assert counters.Counter.describe() == "a counter"
    assert counters.read_counter(c) == 10  # borrowed: still ours
    assert c.get() == 10
    c.close()
    assert c.closed


def test_resource_returned_by_a_function_and_closed_by_with(counters: Any) -> None:
    with counters.make_counter(3) as c:
        assert c.increment(1) == 4
    assert c.closed
    with pytest.raises(TypeError, match="handle was closed or moved"):
        c.get()


def test_own_argument_moves_the_handle(counters: Any) -> None:
    c = counters.Counter(8)
    assert counters.consume_counter(c) == 8
    assert c.closed
    with pytest.raises(TypeError, match=r"argument 'c' \(borrow<counter>\): the counter handle was closed"):
        counters.read_counter(c)
    with pytest.raises(TypeError, match="expects borrow<counter> \\(a resource handle\\), got int"):
        counters.read_counter(3)
    with pytest.raises(AttributeError, match="no method 'nope'"):
        counters.Counter(1).nope()


def test_sandbox_applies_to_component_instances(crt: Runtime, kitchen_wasm: Path) -> None:
    open_comp = crt.component(kitchen_wasm, imports=kitchen_imports(),
                              sandbox=Sandbox(env={"GREETING": "hi"}, stdout="capture"))
    with open_comp.instantiate() as inst:
        assert inst.exports.echo.env_var("GREETING") == "hi"
        assert inst.exports.echo.env_var("HOME") is None  # the host's environment is not passed through
        inst.exports.echo.say("hello from the guest")
        assert inst.stdout() == b"hello from the guest\n"
    closed = crt.component(kitchen_wasm, imports=kitchen_imports())  # default Sandbox: nothing granted
    with closed.instantiate() as inst:
        assert inst.exports.echo.env_var("GREETING") is None
        inst.exports.echo.say("into the void")
        assert inst.stdout() == b""


def test_bytes_through_a_hand_written_canonical_abi(runtime: Runtime) -> None:
    wat = (Path(__file__).parent / "components" / "echo_bytes.wat").read_bytes()
    exports = runtime.component(wat).exports
    echo = exports.echo
    assert echo(b"") == b""
    assert echo(b"abc") == b"abc"
    blob = bytes(range(256)) * 4096  # 1 MiB: moved with memoryview slices, not byte by byte
    assert echo(blob) == blob
    assert exports.heap() == 1024  # post-return ran after each call: the guest freed its buffers
    assert echo(bytearray(b"xy")) == b"xy"
    assert echo([1, 2, 255]) == b"\x01\x02\xff"
    with pytest.raises(ValueError, match=r"at \[1\]: 256 is out of range for u8"):
        echo([1, 256])
