"""Call storms and looping queries do not freeze the contract VM (issue 11, item 5).

Once, a canister whose update called itself kept the VM busy for hours (234k messages in 32 s, 0.23 % of
its cycles spent), memory growing, other canisters' queries blocked and the ingress call never answered;
a looping query blocked the whole VM until a 5e9-instruction cap. Now calls are charged and reserve
cycles for their response as on the IC, a canister's outstanding calls and a root's messages are capped,
queries have a small instruction limit, and a query holds only its own canister's lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from wasmhive.contracts import ContractLimits, ContractReject, ContractVM, build_motoko, verify
from wasmhive.contracts._types import RESPONSE_RESERVE
from wasmhive.runtime import EngineSettings, Runtime

EMPTY = b"DIDL\x00\x00"

# `recurse` calls itself and answers only when that call answers: an unbounded chain without limits.
# `fan` calls itself twice and replies at once: an unbounded breadth-first storm.
STORM = """
(module
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_perform" (func $call_perform (result i32)))
  (import "ic0" "canister_self_copy" (func $self_copy (param i32 i32 i32)))
  (import "ic0" "canister_self_size" (func $self_size (result i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $on_reply $on_reject)
  (data (i32.const 100) "recurse")
  (data (i32.const 120) "fan")
  (data (i32.const 200) "DIDL\\00\\00")
  (data (i32.const 300) "call failed")
  (func $call (param $name i32) (param $len i32) (result i32)
    (call $self_copy (i32.const 0) (i32.const 0) (call $self_size))
    (call $call_new (i32.const 0) (call $self_size) (local.get $name) (local.get $len)
                    (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0))
    (call $call_perform))
  (func (export "canister_update recurse")
    (if (call $call (i32.const 100) (i32.const 7))
      (then (call $reject (i32.const 300) (i32.const 11)))))
  (func (export "canister_update fan")
    (drop (call $call (i32.const 120) (i32.const 3)))
    (drop (call $call (i32.const 120) (i32.const 3)))
    (call $append (i32.const 200) (i32.const 6))
    (call $reply))
  (func $on_reply (param i32)
    (call $append (i32.const 200) (i32.const 6))
    (call $reply))
  (func $on_reject (param i32)
    (call $reject (i32.const 300) (i32.const 11))))
"""

# A counter (`inc` update, `get` query; the count is byte 7 of a Candid `nat` reply) and a query that loops.
COUNTER = """
(module
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 1)
  (data (i32.const 0) "DIDL\\00\\01\\7d")
  (func (export "canister_update inc")
    (i32.store8 (i32.const 7) (i32.add (i32.load8_u (i32.const 7)) (i32.const 1)))
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))
  (func (export "canister_query get")
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))
  (func (export "canister_query spin")
    (loop $l (br $l))))
"""


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime(EngineSettings.deterministic()) as rt:
        yield rt


def _count(reply: bytes) -> int:
    assert reply[:7] == b"DIDL\x00\x01\x7d"
    return reply[7]


def test_a_self_calling_chain_ends_fast_with_a_reject(runtime: Runtime) -> None:
    with ContractVM(None, runtime=runtime) as vm:
        storm = vm.deploy(wasmtime.wat2wasm(STORM), name="storm")
        vm.deploy(wasmtime.wat2wasm(COUNTER), name="other")
        before, h0 = storm.cycles, vm.height
        r = vm.update("storm", "recurse", EMPTY)
        assert not r.ok and r.reject_message == "call failed"
        # Each level reserves RESPONSE_RESERVE cycles for its response, so the chain stops at
        # balance / reserve levels (about 55 for the default 10^12 cycles): two log entries per level.
        depth = before // RESPONSE_RESERVE
        assert vm.height - h0 <= 2 * depth + 2
        assert storm.outstanding_calls == 0  # every reservation came back ...
        assert before - storm.cycles < 0.01 * before  # ... minus what the messages and calls cost
        assert len(vm._queue) == 0
        assert vm.update("other", "inc", EMPTY).ok  # the VM is free


def test_a_self_calling_motoko_canister_gets_a_reject(runtime: Runtime) -> None:
    wasm, _did = build_motoko(Path(__file__).parent.parent / "contracts" / "mo" / "Storm.mo")
    with ContractVM(None, runtime=runtime) as vm:
        storm = vm.deploy(wasm, name="storm")
        before, h0 = storm.cycles, vm.height
        with pytest.raises(ContractReject, match="could not perform remote call"):
            vm.call("storm", "recurse")
        levels = int(vm.call("storm", "get").strip("()").split(" ")[0])
        assert 0 < levels <= before // RESPONSE_RESERVE + 1  # each level committed; the reservations end it
        assert vm.height - h0 == 2 * levels - 1 and storm.outstanding_calls == 0


def test_a_breadth_first_storm_is_cut_at_the_message_limit(runtime: Runtime) -> None:
    limits = ContractLimits(max_messages_per_root=3000, max_outstanding_calls=40)
    with ContractVM(None, runtime=runtime, limits=limits) as vm:
        storm = vm.deploy(wasmtime.wat2wasm(STORM), name="storm", cycles=10**16)  # cycles are not the limit here
        h0 = vm.height
        r = vm.update("storm", "fan", EMPTY)
        assert r.ok  # `fan` answered the ingress at once; the storm it started was cut
        assert vm.height - h0 == 3000
        assert storm.outstanding_calls == 0 and len(vm._queue) == 0
        assert vm.update("storm", "fan", EMPTY).ok  # and the canister still works


def test_outstanding_calls_and_the_queue_stay_bounded_during_a_storm(runtime: Runtime) -> None:
    limits = ContractLimits(max_messages_per_root=4000, max_outstanding_calls=40)
    with ContractVM(None, runtime=runtime, limits=limits) as vm:
        storm = vm.deploy(wasmtime.wat2wasm(STORM), name="storm", cycles=10**16)
        other = vm.deploy(wasmtime.wat2wasm(COUNTER), name="other")
        assert vm.update("other", "inc", EMPTY).ok
        storm_lock = vm._canister_lock(storm.id.raw)
        started = threading.Event()
        result: list[object] = []

        def run_storm() -> None:
            started.set()
            result.append(vm.update("storm", "fan", EMPTY))

        t = threading.Thread(target=run_storm)
        with storm_lock:  # hold the storm at a message boundary once it is well under way
            t.start()
            started.wait(10)
        while vm.height < 1500 and t.is_alive():
            with storm_lock:
                pass
        storm_lock.acquire()
        try:
            assert t.is_alive() and not result  # the storm's root is running (it holds the VM's root lock)
            assert storm.outstanding_calls <= 40 and len(vm._queue) <= 2 * 40
            # Another canister's query runs now, in the middle of the storm.
            q = vm.query("other", "get", EMPTY)
            assert q.ok and _count(q.data) == 1
            # An update to another canister queues behind the storm's root ...
            done = threading.Event()
            upd: list[object] = []
            u = threading.Thread(target=lambda: (upd.append(vm.update(other, "inc", EMPTY)), done.set()))
            u.start()
        finally:
            storm_lock.release()
        t.join(120)
        u.join(120)
        assert not t.is_alive() and not u.is_alive()
        assert done.is_set() and upd and _count(upd[0].data) == 2  # ... and runs once the storm is cut
        assert storm.outstanding_calls == 0 and len(vm._queue) == 0


def test_call_perform_fails_beyond_the_outstanding_call_limit(runtime: Runtime) -> None:
    limits = ContractLimits(max_outstanding_calls=3)
    with ContractVM(None, runtime=runtime, limits=limits) as vm:
        vm.deploy(wasmtime.wat2wasm(STORM), name="storm", cycles=10**16)
        h0 = vm.height
        r = vm.update("storm", "recurse", EMPTY)
        # Three levels of calls are outstanding at once; the fourth call_perform returns SYS_TRANSIENT.
        assert not r.ok and r.reject_message == "call failed"
        assert vm.height - h0 == 2 * 3 + 1


def test_a_looping_query_ends_at_the_query_limit(runtime: Runtime) -> None:
    limits = ContractLimits(query_instructions=20_000_000)
    with ContractVM(None, runtime=runtime, limits=limits) as vm:
        vm.deploy(wasmtime.wat2wasm(COUNTER), name="c")
        r = vm.query("c", "spin", EMPTY)
        assert not r.ok and "instruction limit exceeded (20000000 instructions)" in r.reject_message
        assert r.instructions == 20_000_000
    assert ContractLimits().query_instructions == 500_000_000  # a tenth of the IC's 5e9


def test_a_looping_query_does_not_block_updates_to_another_canister(runtime: Runtime) -> None:
    # A large limit so that the looping query is certainly still running while the update happens.
    limits = ContractLimits(query_instructions=2_000_000_000)
    with ContractVM(None, runtime=runtime, limits=limits) as vm:
        a = vm.deploy(wasmtime.wat2wasm(COUNTER), name="a")
        vm.deploy(wasmtime.wat2wasm(COUNTER), name="b")
        lock_a = vm._canister_lock(a.id.raw)
        out: list[object] = []
        t = threading.Thread(target=lambda: out.append(vm.query("a", "spin", EMPTY)))
        t.start()
        while lock_a.acquire(blocking=False):  # wait until the query holds canister a
            lock_a.release()
            assert t.is_alive()
        r = vm.update("b", "inc", EMPTY)  # runs while the query loops on a
        assert r.ok and _count(r.data) == 1
        assert t.is_alive() and not out  # the query was still running when the update finished
        t.join(120)
        assert out and not out[0].ok and "instruction limit" in out[0].reject_message  # type: ignore[attr-defined]


def test_a_cut_storm_replays_identically(tmp_path: Path, runtime: Runtime) -> None:
    limits = ContractLimits(max_messages_per_root=500, max_outstanding_calls=20)
    with ContractVM(tmp_path, runtime=runtime, limits=limits) as vm:
        vm.deploy(wasmtime.wat2wasm(STORM), name="storm", cycles=10**16)
        assert vm.update("storm", "fan", EMPTY).ok
        assert vm.update("storm", "recurse", EMPTY).reject_message == "call failed"
        height, state = vm.height, vm.state_hash()
    # `verify` replays the log from nothing under the limits the state directory recorded ...
    report = verify(tmp_path)
    assert report.ok and report.height == height, report.problem
    # ... and so does a restart that finds no checkpoint, even when opened with other limits.
    db = sqlite3.connect(tmp_path / "contracts.db")
    db.executescript("DELETE FROM checkpoint; DELETE FROM ck_canisters; DELETE FROM ck_pages;")
    db.close()
    with ContractVM(tmp_path, runtime=runtime) as vm:
        assert vm.height == height and vm.state_hash() == state
        assert vm.limits == ContractLimits()
