"""`wasmhive contract ...` end to end in a temporary project directory."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from wasmhive.cli import main

from .conftest import EXAMPLES


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, canisters: dict[str, bytes]) -> Path:
    for name in ("Token.mo", "counter32.wat", "counter32.did"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["contract", *args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def test_cli_token_flow(project: Path) -> None:
    assert "built Token.wasm" in _run("build", "Token.mo")
    assert (project / "Token.did").read_text().startswith("service")
    assert "owner" in _run("identity", "new", "owner")
    _run("identity", "use", "owner")
    me = _run("identity", "show").strip()
    assert "deployed token as rwlgt-iiaaa-aaaaa-aaaaa-cai" in _run("deploy", "Token.wasm", "--name", "token")
    assert _run("call", "token", "mint", f'(principal "{me}", 1000 : nat64)') == "(1_000 : nat64)\n"
    out = _run("call", "token", "transfer", '(principal "aaaaa-aa", 100 : nat64)')
    assert out == "(variant { ok = 900 : nat64 })\n"
    assert _run("query", "token", "getBalance", '(principal "aaaaa-aa")') == "(100 : nat64)\n"
    assert _run("query", "token", "getBalance", '["aaaaa-aa"]', "--json") == "[100]\n"
    assert _run("query", "token", "whoami", "--identity", "anonymous") == '(principal "2vxsx-fae")\n'
    assert "rejected (code 3)" in _run("call", "token", "nope", code=1)
    assert "takes 2 argument" in _run("call", "token", "transfer", '("x")', code=2)
    log = _run("log")
    assert "install" in log and "transfer" in log
    assert "install" in _run("log", "token", "--json")
    assert "no canister named nope" in _run("log", "nope", code=1)
    assert "verified: 4 log entries" in _run("verify")  # the rejected call is logged too
    assert "upgraded token (version 1)" in _run("upgrade", "token", "Token.wasm")
    assert _run("query", "token", "getBalance", '(principal "aaaaa-aa")') == "(100 : nat64)\n"
    db = sqlite3.connect(project / ".wasmhive" / "contracts.db")
    db.execute("UPDATE log SET reply_hash = ? WHERE height = 2", (b"x" * 32,))
    db.commit()
    db.close()
    assert "verification FAILED at height 2" in _run("verify", code=1)


def test_cli_wat_canister(project: Path) -> None:
    _run("deploy", "counter32.wat", "--name", "c32")
    assert _run("call", "c32", "inc") == "(1 : nat64)\n"
    assert _run("query", "c32", "get", "--json") == "[1]\n"
    assert _run("call", "c32", "get") == "(1 : nat64)\n"  # a query method called as a query, like dfx
    assert "cycles" in _run("deposit", "c32", "1000")
    assert "c32" in _run("list")
    out = _run("info", "c32")
    assert "id:       rwlgt-iiaaa-aaaaa-aaaaa-cai" in out and "inc : () -> (nat64);" in out


def test_cli_build_reports_motoko_errors(project: Path) -> None:
    (project / "Broken.mo").write_text("persistent actor { public func f() : async Nat { \"text\" } };\n")
    out = _run("build", "Broken.mo", code=2)
    assert "moc refused" in out and "Broken.mo:1" in out and "error" in out
    assert not (project / "Broken.wasm").exists()
    assert "compiles Motoko" in _run("build", "counter32.wat", code=64)


def test_cli_identity_names_are_file_names_and_bad_keys_are_clear(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for bad in ("../../evil", ".hidden", "a/b", ""):
        assert "bad identity name" in _run("identity", "new", bad, code=64)
    assert not list(tmp_path.rglob("evil*"))
    _run("identity", "new", "ok1")
    (tmp_path / ".wasmhive" / "identities" / "ok1.pem").write_text("not a key\n")
    assert "not a readable PEM private key" in _run("identity", "show", "ok1", code=64)
