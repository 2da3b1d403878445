"""Signed contract calls cannot be replayed (issue 11, item 2).

Once, one signed `transfer` sent three times executed three times, and an expiry 100 years ahead was
accepted. Now the expiry may be at most `ContractLimits.max_ingress_expiry` ahead, and a signed update's
request id is remembered (durably, with the log) until its expiry: a duplicate gets the first reply.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from wasmhive.contracts import ContractLimits, ContractVM, Identity, Reply, build_motoko, encode_args, verify
from wasmhive.contracts._asgi import ContractsApp, sign_request
from wasmhive.contracts._requests import REPLY_BYTES, RequestLog
from wasmhive.runtime import EngineSettings, Runtime

TOKEN = Path(__file__).parent.parent.parent / "examples" / "contracts" / "Token.mo"


@pytest.fixture(scope="module")
def token_wasm() -> bytes:
    return build_motoko(TOKEN)[0]


@pytest.fixture(scope="module")
def runtime() -> Any:
    with Runtime(EngineSettings.deterministic()) as rt:
        yield rt


def _post(app: ContractsApp, path: str, body: dict[str, Any]) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vm") as client:
            return await client.post(path, json=body)
    return asyncio.run(go())


def _balance(vm: ContractVM, who: Identity) -> str:
    return vm.call("token", "getBalance", f'(principal "{who.principal.text}")')


def _transfers(vm: ContractVM) -> int:
    assert vm.store is not None
    vm.flush()
    row = vm.store.db.execute("SELECT COUNT(*) FROM log WHERE method = 'transfer'").fetchone()
    return int(row[0])


def _setup(tmp_path: Path, runtime: Runtime, token_wasm: bytes) -> tuple[ContractVM, Identity, Identity]:
    owner, bob = Identity("owner"), Identity("bob")
    vm = ContractVM(tmp_path, runtime=runtime)
    vm.deploy(token_wasm, name="token", caller=owner.principal)
    vm.call("token", "mint", f'(principal "{owner.principal.text}", 1000 : nat64)', caller=owner.principal)
    return vm, owner, bob


def _signed_transfer(vm: ContractVM, owner: Identity, bob: Identity, amount: int,
                     ttl: float = 120.0) -> dict[str, Any]:
    token = vm.canister("token")
    args = [bob.principal.text, amount]
    arg = encode_args(token, "transfer", json_args=args)
    return {"args": args, **sign_request(owner, "update", token.id.text, "transfer", arg, ttl=ttl)}


def test_a_signed_update_sent_three_times_runs_once(tmp_path: Path, runtime: Runtime, token_wasm: bytes) -> None:
    vm, owner, bob = _setup(tmp_path, runtime, token_wasm)
    app = ContractsApp(vm=vm)
    body = _signed_transfer(vm, owner, bob, 100)
    replies = [_post(app, "/contracts/token/update/transfer", body) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    first = replies[0].json()
    assert first["status"] == "replied" and first["reply"] == [{"ok": 900}]
    assert all(r.json() == first for r in replies)  # the first reply, every time
    assert _balance(vm, bob) == "(100 : nat64)" and _balance(vm, owner) == "(900 : nat64)"
    assert _transfers(vm) == 1
    # A new signature over the same transfer (a new expiry) is a new request: it runs.
    again = _post(app, "/contracts/token/update/transfer", _signed_transfer(vm, owner, bob, 100, ttl=121.0))
    assert again.json()["reply"] == [{"ok": 800}] and _transfers(vm) == 2
    vm.close()


def test_far_and_past_expiries_are_refused(tmp_path: Path, runtime: Runtime, token_wasm: bytes) -> None:
    vm, owner, bob = _setup(tmp_path, runtime, token_wasm)
    app = ContractsApp(vm=vm)
    century = _post(app, "/contracts/token/update/transfer", _signed_transfer(vm, owner, bob, 5, ttl=100 * 365 * 86400))
    assert century.status_code == 403 and "ahead" in century.json()["error"]
    limit = vm.limits.max_ingress_expiry
    just_over = _post(app, "/contracts/token/update/transfer", _signed_transfer(vm, owner, bob, 5, ttl=limit + 30))
    assert just_over.status_code == 403
    expired = _post(app, "/contracts/token/update/transfer", _signed_transfer(vm, owner, bob, 5, ttl=-1))
    assert expired.status_code == 403 and "expired" in expired.json()["error"]
    not_int = _signed_transfer(vm, owner, bob, 5)
    not_int["expiry"] = str(not_int["expiry"])
    assert _post(app, "/contracts/token/update/transfer", not_int).status_code == 400
    assert _balance(vm, bob) == "(0 : nat64)" and _transfers(vm) == 0  # none of them ran
    vm.close()


def test_the_request_id_survives_a_restart(tmp_path: Path, runtime: Runtime, token_wasm: bytes) -> None:
    vm, owner, bob = _setup(tmp_path, runtime, token_wasm)
    body = _signed_transfer(vm, owner, bob, 250)
    first = _post(ContractsApp(vm=vm), "/contracts/token/update/transfer", body).json()
    assert first["reply"] == [{"ok": 750}]
    vm.close()
    # A restart from the checkpoint written on close, and one that replays the log (no checkpoint).
    for checkpointed in (True, False):
        if not checkpointed:
            db = sqlite3.connect(tmp_path / "contracts.db")
            db.executescript("DELETE FROM checkpoint; DELETE FROM ck_canisters; DELETE FROM ck_pages;")
            db.close()
        vm = ContractVM(tmp_path, runtime=runtime)
        assert vm.height == 3  # install, mint, transfer (replayed from the log when not checkpointed)
        replayed = _post(ContractsApp(vm=vm), "/contracts/token/update/transfer", body)
        assert replayed.status_code == 200 and replayed.json() == first
        assert _balance(vm, bob) == "(250 : nat64)" and _transfers(vm) == 1
        vm.close()
    report = verify(tmp_path)
    assert report.ok, report.problem


def test_the_vm_remembers_only_until_the_expiry_and_within_bounds(runtime: Runtime, token_wasm: bytes) -> None:
    import time

    owner, bob = Identity("owner"), Identity("bob")
    with ContractVM(None, runtime=runtime, limits=ContractLimits(max_signed_requests=2)) as vm:
        vm.deploy(token_wasm, name="token", caller=owner.principal)
        vm.call("token", "mint", f'(principal "{owner.principal.text}", 10 : nat64)', caller=owner.principal)
        arg = encode_args(vm.canister("token"), "transfer", json_args=[bob.principal.text, 1])
        soon = time.time_ns() + 60 * 10**9
        r1 = vm.update("token", "transfer", arg, owner.principal, request_id=b"x" * 32, expiry=soon)
        r2 = vm.update("token", "transfer", arg, owner.principal, request_id=b"x" * 32, expiry=soon)
        assert r1 is r2 and _balance(vm, bob) == "(1 : nat64)"
        assert vm.update("token", "transfer", arg, owner.principal, request_id=b"y" * 32, expiry=soon).ok
        # Two ids remembered: a third signed update is refused (not run) until one expires.
        full = vm.update("token", "transfer", arg, owner.principal, request_id=b"z" * 32, expiry=soon)
        assert not full.ok and "max_signed_requests" in full.reject_message and _balance(vm, bob) == "(2 : nat64)"
    log = RequestLog(10)
    log.remember(b"old", time.time_ns() - 1, Reply("replied", b"x"))  # already expired: not kept
    assert log.get(b"old") is None and len(log) == 0
    big = Reply("replied", bytes(REPLY_BYTES), height=7)
    log.remember(b"a", time.time_ns() + 10**10, big)
    log.remember(b"b", time.time_ns() + 10**10, big)  # past the byte budget: remembered without its data
    assert log.get(b"a") is big
    refused = log.get(b"b")
    assert refused is not None and not refused.ok and "already executed (log height 7)" in refused.reject_message
