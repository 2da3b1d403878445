"""Durability: restart, kill -9, checkpoints plus log replay, and `verify` catching a tampered log."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wasmhive.contracts import ContractVM, Identity, verify
from wasmhive.runtime import Runtime


def _token_session(state: Path, runtime: Runtime, wasm: bytes, **kw: object) -> tuple[Identity, Identity, bytes]:
    alice, bob = Identity("alice"), Identity("bob")
    vm = ContractVM(state, runtime=runtime, **kw)  # type: ignore[arg-type]
    vm.deploy(wasm, name="token", caller=alice.principal)
    vm.call("token", "mint", f'(principal "{alice.principal.text}", 1000 : nat64)', caller=alice.principal)
    for i in range(7):
        vm.call("token", "transfer", f'(principal "{bob.principal.text}", {i} : nat64)', caller=alice.principal)
    h = vm.state_hash()
    vm.close()
    return alice, bob, h


def test_restart_keeps_state(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    alice, bob, h = _token_session(tmp_path, runtime, canisters["token"])
    with ContractVM(tmp_path, runtime=runtime) as vm:
        assert vm.state_hash() == h
        assert vm.call("token", "getBalance", f'(principal "{bob.principal.text}")') == "(21 : nat64)"
        assert vm.call("token", "getBalance", f'(principal "{alice.principal.text}")') == "(979 : nat64)"
        vm.call("token", "transfer", f'(principal "{bob.principal.text}", 1 : nat64)', caller=alice.principal)
    with ContractVM(tmp_path, runtime=runtime) as vm:
        assert vm.call("token", "getBalance", f'(principal "{bob.principal.text}")') == "(22 : nat64)"


def test_replay_from_checkpoint_and_log(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    # Checkpoints every 4 heights: the reopened VM loads one and replays the entries after it.
    _alice, bob, h = _token_session(tmp_path, runtime, canisters["token"], checkpoint_every=4)
    db = sqlite3.connect(tmp_path / "contracts.db")
    ck = db.execute("SELECT height FROM checkpoint").fetchone()[0]
    db.close()
    assert ck > 0
    with ContractVM(tmp_path, runtime=runtime) as vm:
        assert vm.state_hash() == h
        assert vm.call("token", "getBalance", f'(principal "{bob.principal.text}")') == "(21 : nat64)"


_CRASHER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from wasmhive.contracts import ContractVM
    state, wasm = Path(sys.argv[1]), Path(sys.argv[2]).read_bytes()
    vm = ContractVM(state, durability=sys.argv[3], checkpoint_every=25)
    vm.deploy(wasm, name="counter")
    out_lock = threading.Lock()

    def client():
        while True:
            out = vm.call("counter", "inc")  # returns once durable (group commit across threads)
            with out_lock:
                print(out, flush=True)

    threads = [threading.Thread(target=client) for _ in range(int(sys.argv[4]))]
    for t in threads:
        t.start()
    threads[0].join()
""")


def _crash(tmp_path: Path, wasm: bytes, durability: str, clients: int) -> int:
    (tmp_path / "c.wasm").write_bytes(wasm)
    proc = subprocess.Popen([sys.executable, "-c", _CRASHER, str(tmp_path / "state"), str(tmp_path / "c.wasm"),
                             durability, str(clients)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = max(acked, int(line.strip("()\n").split(":")[0].strip()))
        if acked >= 60:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The process went on between our last read and the kill: what it acknowledged meanwhile is in the pipe.
    for line in proc.stdout:
        if line.endswith(")\n"):
            acked = max(acked, int(line.strip("()\n").split(":")[0].strip()))
    proc.stdout.close()
    return acked


@pytest.mark.parametrize(("durability", "clients"), [("full", 1), ("full", 4), ("normal", 1)])
def test_kill_9_loses_no_acknowledged_update(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes],
                                             durability: str, clients: int) -> None:
    # "normal" leaves the fsync to the OS: a killed process still loses nothing it acknowledged.
    acked = _crash(tmp_path, canisters["counter"], durability, clients)
    with ContractVM(tmp_path / "state", runtime=runtime) as vm:
        count = int(vm.call("counter", "get").strip("()").split(":")[0])
        # Every acknowledged update is there; at most those in flight when killed are extra.
        assert acked <= count <= acked + clients
    assert verify(tmp_path / "state").ok


def test_verify_and_tampering(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    _token_session(tmp_path, runtime, canisters["token"])
    report = verify(tmp_path)
    assert report.ok and report.height == 9 and set(report.state_hashes) == {"token"}
    db = sqlite3.connect(tmp_path / "contracts.db")
    # 1. Change what a transfer asked for (its recorded input): replay no longer matches the log.
    height, rj = db.execute("SELECT height, root_json FROM log WHERE method = 'transfer' ORDER BY height DESC").fetchone()
    root = json.loads(rj)
    arg = bytes.fromhex(root["arg"]["$b"])
    root["arg"]["$b"] = (arg[:-8] + (999).to_bytes(8, "little")).hex()
    db.execute("UPDATE log SET root_json = ? WHERE height = ?", (json.dumps(root), height))
    db.commit()
    bad = verify(tmp_path)
    assert not bad.ok and bad.height == height and "mismatch" in bad.problem
    db.execute("UPDATE log SET root_json = ? WHERE height = ?", (rj, height))
    db.commit()
    assert verify(tmp_path).ok
    # 2. Rewrite a recorded state hash: the hash chain breaks.
    db.execute("UPDATE log SET state_hash = ? WHERE height = 3", (b"\0" * 32,))
    db.commit()
    db.close()
    bad = verify(tmp_path)
    assert not bad.ok and bad.height == 3 and "chain" in bad.problem


def test_stable_memory_survives_restart(tmp_path: Path, runtime: Runtime) -> None:
    import wasmtime

    from .conftest import EXAMPLES

    wasm = wasmtime.wat2wasm((EXAMPLES / "counter32.wat").read_text())
    did = (EXAMPLES / "counter32.did").read_text()
    with ContractVM(tmp_path, runtime=runtime) as vm:
        vm.deploy(wasm, name="c32", did=did)
        vm.call("c32", "inc")
        vm.upgrade("c32", wasm, did=did)  # pre_upgrade writes the counter to stable memory
        vm.call("c32", "inc")
        h = vm.state_hash()
        assert len(vm.canister("c32").stable) == 65536
    with ContractVM(tmp_path, runtime=runtime) as vm:
        assert vm.state_hash() == h
        assert vm.call("c32", "get") == "(2 : nat64)"
        assert bytes(vm.canister("c32").stable[:8]) == (1).to_bytes(8, "little")
    assert verify(tmp_path).ok
