"""Contract state sealed at rest: a real Motoko token canister, its SQLite state read as raw bytes and tampered with."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from wasmhive.cli import main
from wasmhive.contracts import ContractVM, Principal, encode_args, verify
from wasmhive.contracts._asgi import ContractsApp
from wasmhive.errors import ConfigError, SealingError
from wasmhive.runtime import Runtime
from wasmhive.tee._keys import ENV_ATTESTATION_KEY, ENV_KEY_DIR, ENV_ROOT_KEY, platform_keys


def _http_fixtures():  # imported lazily: other test modules load it as a pytest plugin first
    import http_fixtures

    return http_fixtures


OWNER = Principal(b"sealstate-owner")
SECRET = Principal(b"sealstate-secret-holder")  # distinctive bytes, only ever in arguments and canister memory
AMOUNT = 0x5EA1_5EA1_5EA1  # boxed in the Motoko heap (too large for a tagged scalar)
CLOCK = 1_700_000_000_000_000_000


@pytest.fixture(autouse=True)
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's platform keys, in their own directory (never the state directory)."""
    monkeypatch.delenv(ENV_ROOT_KEY, raising=False)
    monkeypatch.delenv(ENV_ATTESTATION_KEY, raising=False)
    monkeypatch.setenv(ENV_KEY_DIR, str(tmp_path / "keys-a"))
    return tmp_path / "keys-a"


def _session(state: Path, runtime: Runtime, wasm: bytes, **kw: object) -> bytes:
    vm = ContractVM(state, runtime=runtime, clock=lambda: CLOCK, **kw)  # type: ignore[arg-type]
    vm.deploy(wasm, name="token", caller=OWNER)
    vm.call("token", "mint", f'(principal "{OWNER.text}", {AMOUNT * 6} : nat64)', caller=OWNER)
    for i in range(5):
        vm.call("token", "transfer", f'(principal "{SECRET.text}", {AMOUNT + i} : nat64)', caller=OWNER)
    h = vm.state_hash()
    vm.close()
    return h


def _balance(vm: ContractVM) -> str:
    return vm.call("token", "getBalance", f'(principal "{SECRET.text}")')


def _raw(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(state.iterdir()) if p.name.startswith("contracts.db"))


def test_sealed_state_survives_restart_and_verifies(tmp_path: Path, runtime: Runtime,
                                                    canisters: dict[str, bytes]) -> None:
    # A checkpoint every 4 heights: reopening loads a sealed checkpoint and replays sealed log entries.
    h = _session(tmp_path / "s", runtime, canisters["token"], sealed=True, checkpoint_every=4)
    plain = _session(tmp_path / "p", runtime, canisters["token"])
    assert h == plain  # the same canister state, sealed or not
    expected = f"({5 * AMOUNT + 10:_} : nat64)"
    with ContractVM(tmp_path / "s", runtime=runtime, sealed=True) as vm:
        assert vm.state_hash() == h
        assert _balance(vm) == expected
        vm.call("token", "transfer", f'(principal "{SECRET.text}", 1 : nat64)', caller=OWNER)
    with ContractVM(tmp_path / "s", runtime=runtime, sealed=True) as vm:
        assert _balance(vm) == f"({5 * AMOUNT + 11:_} : nat64)"
    report = verify(tmp_path / "s")
    assert report.ok, report.problem
    assert report.height == 8


def test_signed_request_reply_is_remembered_sealed(tmp_path: Path, runtime: Runtime,
                                                   canisters: dict[str, bytes]) -> None:
    # A signed update's first reply outlives a restart (sealed in the requests table): a resend is not re-run.
    _session(tmp_path, runtime, canisters["token"], sealed=True)
    expiry = time.time_ns() + 120 * 10**9
    with ContractVM(tmp_path, runtime=runtime, sealed=True) as vm:
        arg = encode_args(vm.canister("token"), "transfer", f'(principal "{SECRET.text}", 7 : nat64)')
        first = vm.update("token", "transfer", arg, OWNER, request_id=b"r" * 32, expiry=expiry)
        assert first.ok
    db = sqlite3.connect(tmp_path / "contracts.db")
    (stored,) = db.execute("SELECT reply FROM requests").fetchone()
    db.close()
    assert isinstance(stored, bytes) and first.data.hex().encode() not in stored
    with ContractVM(tmp_path, runtime=runtime, sealed=True) as vm:
        again = vm.update("token", "transfer", arg, OWNER, request_id=b"r" * 32, expiry=expiry)
        assert (again.data, again.height) == (first.data, first.height)
        assert _balance(vm) == f"({5 * AMOUNT + 17:_} : nat64)"  # transferred once


def test_no_plaintext_on_disk(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    wasm = canisters["token"]
    needles = {"recipient": SECRET.raw, "amount": (AMOUNT + 2).to_bytes(8, "little"),
               "module": wasm[len(wasm) // 2:len(wasm) // 2 + 64], "interface": b"totalSupply"}
    _session(tmp_path / "p", runtime, wasm)
    _session(tmp_path / "s", runtime, wasm, sealed=True)
    plain, sealed = _raw(tmp_path / "p"), _raw(tmp_path / "s")
    for what, needle in needles.items():
        assert needle in plain, f"control: the unsealed state holds the {what}"
        assert needle not in sealed, f"the sealed state holds the {what} in the clear"


def test_another_platform_key_is_refused(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _session(tmp_path / "s", runtime, canisters["token"], sealed=True)
    monkeypatch.setenv(ENV_KEY_DIR, str(tmp_path / "keys-b"))
    with pytest.raises(ConfigError, match="no such root sealing key file"):  # no key is made for existing state
        ContractVM(tmp_path / "s", runtime=runtime, sealed=True)
    platform_keys()  # another platform's keys
    with pytest.raises(SealingError, match="sealed under another platform root key"):
        ContractVM(tmp_path / "s", runtime=runtime, sealed=True)
    report = verify(tmp_path / "s")
    assert not report.ok and "another platform root key" in report.problem
    monkeypatch.setenv(ENV_KEY_DIR, str(tmp_path / "keys-a"))  # nothing was lost: the right key opens it
    with ContractVM(tmp_path / "s", runtime=runtime, sealed=True) as vm:
        assert _balance(vm) == f"({5 * AMOUNT + 10:_} : nat64)"


def test_sealed_and_unsealed_are_never_mixed(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    _session(tmp_path / "s", runtime, canisters["token"], sealed=True)
    _session(tmp_path / "p", runtime, canisters["token"])
    with pytest.raises(SealingError, match="holds sealed contract state"):
        ContractVM(tmp_path / "s", runtime=runtime)
    with pytest.raises(SealingError, match="holds unsealed contract state"):
        ContractVM(tmp_path / "p", runtime=runtime, sealed=True)
    for state, sealed in ((tmp_path / "s", True), (tmp_path / "p", False)):
        with ContractVM(state, runtime=runtime, sealed=sealed) as vm:  # the refusals released the directory
            assert _balance(vm) == f"({5 * AMOUNT + 10:_} : nat64)"


def _flip(db_path: Path, table: str, where: str, params: tuple[object, ...], column: str) -> bytes:
    """Flip one byte in the middle of the blob `column` of the row of `table` `where`; returns the original."""
    db = sqlite3.connect(db_path)
    (blob,) = db.execute(f"SELECT {column} FROM {table} WHERE {where}", params).fetchone()
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0x01
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (bytes(bad), *params))
    db.commit()
    db.close()
    return bytes(blob)


def test_tampered_checkpoint_page_is_refused(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    state = tmp_path / "s"
    _session(state, runtime, canisters["token"], sealed=True)
    db = sqlite3.connect(state / "contracts.db")
    cid, space, page = db.execute("SELECT canister, space, page FROM ck_pages ORDER BY page DESC LIMIT 1").fetchone()
    (other,) = db.execute("SELECT min(page) FROM ck_pages WHERE canister = ? AND space = ?", (cid, space)).fetchone()
    db.close()
    assert other != page
    original = _flip(state / "contracts.db", "ck_pages", "canister = ? AND space = ? AND page = ?", (cid, space, page),
                     "data")
    with pytest.raises(SealingError, match=f"checkpoint page {page} .* failed authentication"):
        ContractVM(state, runtime=runtime, sealed=True)
    db = sqlite3.connect(state / "contracts.db")
    # A page moved to another index is refused as well.
    db.execute("UPDATE ck_pages SET data = ? WHERE canister = ? AND space = ? AND page = ?",
               (db.execute("SELECT data FROM ck_pages WHERE canister = ? AND space = ? AND page = ?",
                           (cid, space, other)).fetchone()[0], cid, space, page))
    db.commit()
    with pytest.raises(SealingError, match="failed authentication"):
        ContractVM(state, runtime=runtime, sealed=True)
    db.execute("UPDATE ck_pages SET data = ? WHERE canister = ? AND space = ? AND page = ?",
               (original, cid, space, page))
    db.commit()
    db.close()
    with ContractVM(state, runtime=runtime, sealed=True) as vm:
        assert _balance(vm) == f"({5 * AMOUNT + 10:_} : nat64)"


def test_page_rolled_back_to_its_older_version_is_refused(tmp_path: Path, runtime: Runtime,
                                                         canisters: dict[str, bytes]) -> None:
    # An older sealed blob of the same page authenticates (same place); the sealed state hash catches it.
    _session(tmp_path, runtime, canisters["token"], sealed=True)
    db = sqlite3.connect(tmp_path / "contracts.db")
    before = dict(((cid, space, page), data) for cid, space, page, data in db.execute("SELECT * FROM ck_pages"))
    db.close()
    with ContractVM(tmp_path, runtime=runtime, sealed=True) as vm:
        vm.call("token", "transfer", f'(principal "{SECRET.text}", 1 : nat64)', caller=OWNER)
    db = sqlite3.connect(tmp_path / "contracts.db")
    changed = [(k, data) for *k, data in db.execute("SELECT * FROM ck_pages") if before.get(tuple(k)) not in
               (None, data)]
    assert changed, "the transfer rewrote some checkpoint page"
    (cid, space, page), newer = changed[0]
    db.execute("UPDATE ck_pages SET data = ? WHERE canister = ? AND space = ? AND page = ?",
               (before[(cid, space, page)], cid, space, page))
    db.commit()
    with pytest.raises(SealingError, match="does not match the state hash sealed with it"):
        ContractVM(tmp_path, runtime=runtime, sealed=True)
    db.execute("UPDATE ck_pages SET data = ? WHERE canister = ? AND space = ? AND page = ?", (newer, cid, space, page))
    db.commit()
    db.close()
    with ContractVM(tmp_path, runtime=runtime, sealed=True) as vm:
        assert _balance(vm) == f"({5 * AMOUNT + 11:_} : nat64)"


# A process that writes sealed log entries and dies without a checkpoint: reopening must replay the log.
_CRASHER = textwrap.dedent("""
    import os, sys
    from wasmhive.contracts import ContractVM, Principal
    owner, secret = Principal(b"sealstate-owner"), Principal(b"sealstate-secret-holder")
    vm = ContractVM(sys.argv[1], sealed=True, checkpoint_every=10**6, clock=lambda: 1_700_000_000_000_000_000)
    vm.deploy(open(sys.argv[2], "rb").read(), name="token", caller=owner)
    vm.call("token", "mint", f'(principal "{owner.text}", 1000 : nat64)', caller=owner)
    for i in range(1, 5):
        vm.call("token", "transfer", f'(principal "{secret.text}", {i} : nat64)', caller=owner)
    os._exit(0)
""")


@pytest.fixture
def crashed(tmp_path: Path, canisters: dict[str, bytes]) -> Path:
    (tmp_path / "token.wasm").write_bytes(canisters["token"])
    subprocess.run([sys.executable, "-c", _CRASHER, str(tmp_path / "s"), str(tmp_path / "token.wasm")],
                   check=True, timeout=300)
    return tmp_path / "s"


def test_tampered_or_swapped_log_entries_are_refused(crashed: Path, runtime: Runtime) -> None:
    db_path = crashed / "contracts.db"
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT height FROM checkpoint").fetchone() is None  # recovery replays the whole log
    assert db.execute("SELECT count(*) FROM log WHERE root = 1").fetchone()[0] == 6
    db.close()
    original = _flip(db_path, "log", "height = ?", (3,), "root_json")
    with pytest.raises(SealingError, match="log entry 3 failed authentication"):
        ContractVM(crashed, runtime=runtime, sealed=True)
    report = verify(crashed)
    assert not report.ok and "log entry 3 failed authentication" in report.problem
    db = sqlite3.connect(db_path)
    db.execute("UPDATE log SET root_json = ? WHERE height = 3", (original,))
    # Two transfers' sealed inputs swapped: each blob is bound to its height.
    a, b = (db.execute("SELECT root_json FROM log WHERE height = ?", (h,)).fetchone()[0] for h in (4, 5))
    db.execute("UPDATE log SET root_json = ? WHERE height = 4", (b,))
    db.execute("UPDATE log SET root_json = ? WHERE height = 5", (a,))
    db.commit()
    with pytest.raises(SealingError, match="log entry 4 failed authentication"):
        ContractVM(crashed, runtime=runtime, sealed=True)
    db.execute("UPDATE log SET root_json = ? WHERE height = 4", (a,))
    db.execute("UPDATE log SET root_json = ? WHERE height = 5", (b,))
    db.commit()
    db.close()
    with ContractVM(crashed, runtime=runtime, sealed=True) as vm:  # nothing lost: the log replays
        assert _balance(vm) == "(10 : nat64)"
    assert verify(crashed).ok


def test_cli_sealed_flag(tmp_path: Path, canisters: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "token.wasm").write_bytes(canisters["token"])

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, ["contract", *args])
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    run("--sealed", "deploy", "token.wasm", "--name", "token")
    assert run("--sealed", "call", "token", "mint", f'(principal "{SECRET.text}", {AMOUNT} : nat64)') \
        == f"({AMOUNT:_} : nat64)\n"
    out = run("call", "token", "totalSupply", code=SealingError.exit_code)
    assert "holds sealed contract state" in out and "Traceback" not in out
    assert "verified: 2 log entries" in run("verify")
    monkeypatch.setenv(ENV_KEY_DIR, str(tmp_path / "keys-b"))
    platform_keys()
    assert " mint " in run("log")  # the hash-chained log reads without the key
    assert "sealed under another platform root key" in run("verify", code=1)
    assert SECRET.raw not in _raw(tmp_path / ".wasmhive")


def test_http_api_opens_sealed_state_only_when_asked(tmp_path: Path, runtime: Runtime,
                                                     canisters: dict[str, bytes]) -> None:
    _session(tmp_path, runtime, canisters["token"], sealed=True)
    body = {"candid": f'(principal "{SECRET.text}")'}
    unsealed, sealed = ContractsApp(tmp_path), ContractsApp(tmp_path, sealed=True)
    with _http_fixtures().serving(unsealed) as base:
        r = httpx.post(f"{base}/contracts/token/query/getBalance", json=body, timeout=30)
        assert r.status_code == 503 and "holds sealed contract state" in r.json()["error"]
    with _http_fixtures().serving(sealed) as base:
        r = httpx.post(f"{base}/contracts/token/query/getBalance", json=body, timeout=30)
        assert r.status_code == 200 and r.json()["reply"] == [5 * AMOUNT + 10]
    sealed.close()


def test_wasmhive_up_serves_sealed_contracts(tmp_path: Path, runtime: Runtime, canisters: dict[str, bytes]) -> None:
    # `wasmhive up --contracts` (a real server process) opens $WASMHIVE_STATE sealed when $WASMHIVE_STATE_SEALED.
    template = (Path(__file__).parent.parent / "http" / "minimal.wat.in").read_text()
    (tmp_path / "teapot.wat").write_text(template.replace("VERSION", "0.2.0").replace("MODE", "0"))
    _session(tmp_path / "state", runtime, canisters["token"], sealed=True)
    port = _http_fixtures().free_port()
    env = {**os.environ, "WASMHIVE_STATE": str(tmp_path / "state"), "WASMHIVE_STATE_SEALED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", "teapot.wat",
                             "--listen", f"127.0.0.1:{port}", "--contracts", "-q"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/contracts/token/query/getBalance", timeout=30,
                               json={"candid": f'(principal "{SECRET.text}")'})
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "wasmhive up did not start"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["reply"] == [5 * AMOUNT + 10], r.text
    finally:
        proc.terminate()
        proc.wait(30)
