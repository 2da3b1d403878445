"""The contract VM with real Motoko canisters: replies, atomicity, queries, calls, timers, upgrades, cycles."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wasmhive.contracts import (
    ANONYMOUS,
    ContractError,
    ContractReject,
    ContractVM,
    Identity,
    encode_args,
    verify,
)
from wasmhive.runtime import Runtime

from .conftest import EXAMPLES


def test_counter(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    c = vm.deploy(canisters["counter"], name="counter")
    assert c.methods == ["get", "inc"]  # Motoko's internal methods are hidden
    assert c.id.text == "rwlgt-iiaaa-aaaaa-aaaaa-cai"
    assert vm.call("counter", "inc") == "(1 : nat)"
    assert vm.call("counter", "inc") == "(2 : nat)"
    assert vm.call("counter", "get") == "(2 : nat)"
    r = vm.query("counter", "inc", b"DIDL\0\0")
    assert not r.ok and r.reject_code == 3  # an update method is not a query
    with pytest.raises(ContractReject, match="no update method 'nope'"):
        vm.call("counter", "nope")


def test_token(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    alice, bob = Identity("alice"), Identity("bob")
    vm.deploy(canisters["token"], name="token", caller=alice.principal)
    a, b = alice.principal.text, bob.principal.text
    assert vm.call("token", "mint", f'(principal "{a}", 1000 : nat64)', caller=alice.principal) == "(1_000 : nat64)"
    with pytest.raises(ContractReject, match="only a controller may mint"):
        vm.call("token", "mint", f'(principal "{b}", 5 : nat64)', caller=bob.principal)
    out = vm.call("token", "transfer", f'(principal "{b}", 100 : nat64)', caller=alice.principal)
    assert out == "(variant { ok = 900 : nat64 })"
    before = vm.state_hash("token")
    out = vm.call("token", "transfer", f'(principal "{a}", 101 : nat64)', caller=bob.principal)
    assert out == '(variant { err = "insufficient funds: balance 100, transfer 101" })'
    assert vm.call("token", "getBalance", f'(principal "{a}")') == "(900 : nat64)"
    assert vm.call("token", "getBalance", f'(principal "{b}")') == "(100 : nat64)"
    assert vm.call("token", "totalSupply") == "(1_000 : nat64)"
    assert vm.state_hash("token") != before  # the failed transfer still ran (and was charged cycles)


def test_identity_is_the_caller(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["token"], name="token")
    carol = Identity("carol")
    assert vm.call("token", "whoami", caller=carol.principal) == f'(principal "{carol.principal.text}")'
    assert vm.call("token", "whoami") == '(principal "2vxsx-fae")'  # anonymous
    # The deployer (anonymous here) controls the canister; carol does not.
    with pytest.raises(ContractReject, match="controller"):
        vm.call("token", "mint", f'(principal "{carol.principal.text}", 1 : nat64)', caller=carol.principal)
    with pytest.raises(ContractError, match="not a controller"):
        vm.upgrade("token", canisters["token"], caller=carol.principal)


def test_trap_mid_update_changes_nothing(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    c = vm.deploy(canisters["lab"], name="lab")
    vm.call("lab", "inc")
    heap_before = c.shadow.copy()
    cycles_before = c.cycles
    with pytest.raises(ContractReject, match="deliberate trap after changing state") as e:
        vm.call("lab", "incThenTrap")
    assert e.value.code == 5
    assert vm.call("lab", "get") == "(1 : nat)"
    assert vm.call("lab", "getLog") == '("")'
    assert (c.shadow == heap_before).all()
    assert c.cycles < cycles_before  # the trapped message was still paid for
    assert vm.call("lab", "inc") == "(2 : nat)"  # and the canister keeps working
    # Outgoing calls made before the trap are rolled back too.
    with pytest.raises(ContractReject, match="trap after making a call"):
        vm.call("lab", "callThenTrap")
    assert vm.call("lab", "get") == "(2 : nat)"


def test_inspect_message_filters_ingress(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["lab"], name="lab")
    height = vm.height
    with pytest.raises(ContractReject, match="refused the message in canister_inspect_message") as e:
        vm.call("lab", "chain", f"({10 ** 200})")
    assert e.value.code == 4 and vm.height == height  # nothing ran, nothing logged
    assert vm.call("lab", "chain", "(1)") == "(1 : nat)"


def test_query_changes_are_discarded(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["lab"], name="lab")
    vm.call("lab", "inc")
    h = vm.state_hash("lab")
    height = vm.height
    assert vm.call("lab", "sneaky") == "(101 : nat)"
    assert vm.call("lab", "sneaky") == "(101 : nat)"
    assert vm.call("lab", "get") == "(1 : nat)"
    assert vm.state_hash("lab") == h and vm.height == height


def test_heap_growth_in_discarded_messages(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    c = vm.deploy(canisters["lab"], name="lab")
    vm.call("lab", "inc")
    h, pages = vm.state_hash("lab"), c.pages()
    assert vm.call("lab", "bigQuery", "(2_000_000)") == "(2_000_000 : nat)"
    assert c.pages() == pages and vm.state_hash("lab") == h  # the grown instance was replaced
    with pytest.raises(ContractReject, match="trap after growing the heap"):
        vm.call("lab", "bigThenTrap", "(2_000_000)")
    assert c.pages() == pages and vm.call("lab", "get") == "(1 : nat)"
    assert vm.call("lab", "inc") == "(2 : nat)"


def test_self_calls_with_several_awaits(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["lab"], name="lab")
    h0 = vm.height
    assert vm.call("lab", "chain", "(3)") == "(3 : nat)"
    assert vm.call("lab", "getLog") == '("step;step;step;")'
    # One root plus, per await, the self call and the callback: each its own committed message.
    kinds = [e.kind for e in vm._pending if e.height > h0] if vm._pending else []
    assert vm.height - h0 == 1 + 3 * 2, kinds


def test_inter_canister_calls(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    counter = vm.deploy(canisters["counter"], name="counter")
    vm.deploy(canisters["caller"], name="caller")
    assert vm.call("caller", "bumpTwice", f'(principal "{counter.id.text}")') == "(2 : nat)"
    assert vm.call("counter", "get") == "(2 : nat)"
    assert vm.call("caller", "readVia", f'(principal "{counter.id.text}")') == "(2 : nat)"
    height, h = vm.height, vm.state_hash()
    assert vm.call("caller", "sumVia", f'(principal "{counter.id.text}")') == "(4 : nat)"  # composite query
    assert vm.height == height and vm.state_hash() == h
    # A call to a method the callee lacks comes back as a reject the caller can catch.
    assert vm.call("caller", "callMissing", f'(principal "{counter.id.text}")') == '("caught")'


def test_timer(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["lab"], name="lab")
    vm.call("lab", "schedule", "(10)")
    assert vm.tick() == 1  # the heartbeat only: the timer is not due
    assert vm.call("lab", "getTicks") == "(0 : nat)"
    vm.advance_time(11)
    assert vm.tick() == 2
    assert vm.call("lab", "getTicks") == "(1 : nat)"
    vm.advance_time(60)
    beats = int(vm.call("lab", "getBeats").strip("()").split(":")[0])
    assert vm.tick() == 1  # a one-shot timer does not fire again; the heartbeat runs every round
    assert vm.call("lab", "getBeats") == f"({beats + 1} : nat)"


def test_upgrade_keeps_state(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["counter"], name="counter")
    for _ in range(3):
        vm.call("counter", "inc")
    c = vm.upgrade("counter", canisters["counter_v2"])
    assert c.version == 1 and "add" in c.methods
    assert vm.call("counter", "get") == "(3 : nat)"
    assert vm.call("counter", "add", "(10)") == "(13 : nat)"


def test_incompatible_upgrade_is_refused_and_undone(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["counter"], name="counter")
    vm.call("counter", "inc")
    h = vm.state_hash("counter")
    with pytest.raises(ContractError, match="upgrade refused"):
        vm.upgrade("counter", canisters["counter_bad"])
    assert vm.state_hash("counter") == h
    assert vm.canister("counter").version == 0
    assert vm.call("counter", "inc") == "(2 : nat)"


def test_out_of_cycles(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["counter"], name="counter", cycles=3_000_000)
    replies = []
    for _ in range(10):
        try:
            replies.append(vm.call("counter", "inc"))
        except ContractReject as e:
            assert "out of cycles" in str(e)
            break
    else:
        pytest.fail("the canister never ran out of cycles")
    n = len(replies)
    assert 0 < n < 10
    assert vm.call("counter", "get") == f"({n} : nat)"  # queries stay free
    vm.deposit_cycles("counter", 1_000_000)
    assert vm.call("counter", "inc") == f"({n + 1} : nat)"


def test_instruction_limit_of_a_poor_canister(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    vm.deploy(canisters["lab"], name="lab", cycles=1_500_000)
    with pytest.raises(ContractReject, match="instruction limit"):
        vm.call("lab", "burn", "(10_000_000)")
    assert vm.call("lab", "get") == "(0 : nat)"


def test_deterministic_runs(runtime: Runtime, canisters: dict[str, bytes]) -> None:
    def run() -> tuple[bytes, list[int]]:
        with ContractVM(None, runtime=runtime, clock=lambda: 42) as v:
            alice = Identity.from_pem("alice", _ALICE_PEM)
            v.deploy(canisters["token"], name="token", caller=alice.principal)
            v.call("token", "mint", f'(principal "{alice.principal.text}", 50 : nat64)', caller=alice.principal)
            instr = []
            for i in range(5):
                arg = encode_args(v.canister("token"), "transfer", f'(principal "{ANONYMOUS.text}", {i} : nat64)')
                instr.append(v.update("token", "transfer", arg, alice.principal).instructions)
            return v.state_hash(), instr

    assert run() == run()


def test_raw_rand_is_deterministic_and_fresh(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    def run(state: Path | None) -> list[str]:
        with ContractVM(state, runtime=runtime, clock=lambda: 7) as v:
            v.deploy(canisters["lab"], name="lab")
            return [v.call("lab", "dice") for _ in range(3)]

    first = run(tmp_path)
    assert first == run(None)  # the same inputs draw the same bytes
    assert len(set(first)) == 3 and all(x.startswith("(blob ") for x in first)
    assert verify(tmp_path).ok  # and a replay of the log does too


def test_management_canister_status(vm: ContractVM, canisters: dict[str, bytes]) -> None:
    c = vm.deploy(canisters["lab"], name="lab")
    out = vm.call("lab", "myStatus")
    cycles = int(out.split(" : nat")[0].strip("(").replace("_", ""))
    assert out.endswith(", true)") and 0 < cycles <= c.cycles + 100_000


def test_32bit_wat_canister(vm: ContractVM) -> None:
    wasm = wasmtime.wat2wasm((EXAMPLES / "counter32.wat").read_text())
    did = (EXAMPLES / "counter32.did").read_text()
    vm.deploy(wasm, name="c32", did=did)
    assert vm.call("c32", "inc") == "(1 : nat64)"
    assert vm.call("c32", "inc") == "(2 : nat64)"
    vm.upgrade("c32", wasm, did=did)  # memory is replaced; the counter travels through stable memory
    assert vm.call("c32", "get") == "(2 : nat64)"


_ALICE_PEM = Identity("alice").to_pem()


def test_modules_the_vm_cannot_make_atomic_are_refused(vm: ContractVM) -> None:
    from wasmhive.errors import InvalidModule

    table_writer = wasmtime.wat2wasm("""(module (table 2 funcref) (func $f)
        (func (export "canister_update f") (table.set 0 (i32.const 0) (ref.func $f))) (elem declare func $f))""")
    with pytest.raises(InvalidModule, match="function table"):
        vm.deploy(table_writer)
    with pytest.raises(InvalidModule, match="component"):
        vm.deploy(b"\0asm\x0d\x00\x01\x00")
    bad_export = wasmtime.wat2wasm('(module (func (export "canister_update f") (param i32)))')
    with pytest.raises(InvalidModule, match="must be a function of type"):
        vm.deploy(bad_export)
    assert vm.canisters == {}
