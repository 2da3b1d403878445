"""A C canister (zig cc, wasm32, no libc) against the 32-bit System API."""

from __future__ import annotations

from wasmhive.app.toolchains import zig_cc
from wasmhive.contracts import ContractVM

from .conftest import EXAMPLES


def test_c_canister(vm: ContractVM) -> None:
    wasm = zig_cc(EXAMPLES / "hello.c", target="wasm32-freestanding", flags=("-O2", "-nostdlib", "-Wl,--no-entry"))
    c = vm.deploy(wasm.read_bytes(), name="hello", did=(EXAMPLES / "hello.did").read_text())
    assert not c.info.memory64
    assert vm.call("hello", "greet", '("wasmhive")') == '("Hello, wasmhive!")'
    assert vm.call("hello", "greet", '("ünïcødé")') == '("Hello, ünïcødé!")'
    assert vm.call("hello", "count") == "(2 : nat64)"
    r = vm.update("hello", "greet", b"DIDL\x00\x01\x7d\x05")  # a nat, not a text: the canister traps
    assert not r.ok and "expected (text)" in r.reject_message
    assert vm.call("hello", "count") == "(2 : nat64)"  # the refused call changed nothing
