"""The System API's checks, through a hand-written 32-bit canister: each misuse is a clean reject."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wasmhive.contracts import ContractVM

EMPTY = b"DIDL\x00\x00"


@pytest.mark.parametrize(("method", "message"), [
    ("twice", "already been answered"),
    ("argoob", "msg_arg_data_copy out of bounds"),
    ("memoob", "read out of bounds"),
    ("mytrap", "custom trap"),
    ("stableoob", "stable memory read out of bounds"),
    ("unsupported", "ic0.cost_call is not supported"),
    ("noreply", "did not reply"),
    ("loop", "instruction limit"),
])
def test_misuse_is_a_reject(vm: ContractVM, method: str, message: str) -> None:
    c = vm.deploy(wasmtime.wat2wasm((Path(__file__).parent / "sysapi.wat").read_text()), name="sys",
                  cycles=2_000_000)  # a small balance bounds the instructions a message may use
    h = c.state_hash()
    r = vm.update("sys", method, EMPTY)
    assert not r.ok and r.reject_code == 5 and message in r.reject_message, r
    vm.deposit_cycles("sys", 1_000_000)  # "loop" burnt the whole balance: out of cycles is out of fuel
    assert vm.update("sys", "ok", EMPTY).data == EMPTY  # the canister is fine afterwards
    assert c.shadow.tobytes() == vm.canister("sys").shadow.tobytes() and h != c.state_hash()  # only cycles moved


def test_query_may_not_set_a_timer(vm: ContractVM) -> None:
    vm.deploy(wasmtime.wat2wasm((Path(__file__).parent / "sysapi.wat").read_text()), name="sys")
    r = vm.query("sys", "settimer", EMPTY)
    assert not r.ok and "cannot be called in a query" in r.reject_message
