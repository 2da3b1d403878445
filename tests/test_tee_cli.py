"""`wasmhive measure`, `sign`, `attest`, `attest verify` and `attest key` as a user runs them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tee_fixtures import tee_probe

__all__ = ["tee_probe"]

WASMHIVE = str(Path(sys.executable).parent / "wasmhive")


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMHIVE_TEE_")}

    def run(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([WASMHIVE, *map(str, args)], capture_output=True, text=True, env=env, cwd=tmp_path,
                              input=stdin, timeout=120, check=False)

    return run


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr


def test_measure_sign_attest_verify(cli, tee_probe: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shutil.copyfile(tee_probe, tmp_path / "probe.wasm")
    m = cli("measure", "probe.wasm")
    assert m.returncode == 0 and m.stdout.strip() == hashlib.sha256(tee_probe.read_bytes()).hexdigest()
    s = cli("sign", "probe.wasm", "--key", "signer.pem", "--new-key", "--security-version", "4")
    assert s.returncode == 0, s.stderr
    assert (tmp_path / "signer.pem").stat().st_mode & 0o077 == 0
    info = json.loads(cli("measure", "--json", "probe.wasm").stdout)
    assert info["security_version"] == 4 and len(info["signer"]) == 64
    key = cli("attest", "key")
    assert key.returncode == 0 and key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "platform.pem").write_text(key.stdout)
    nonce = os.urandom(16).hex()
    ev = cli("attest", "probe.wasm", "--nonce", nonce, "--user-data", "cafe")
    assert ev.returncode == 0, ev.stderr
    ok = cli("attest", "verify", "-", "--public-key", "platform.pem", "--nonce", nonce,
             "--expect-measurement", info["measurement"], "--expect-signer", info["signer"],
             "--min-security-version", "4", stdin=ev.stdout)
    assert ok.returncode == 0, ok.stderr
    claims = json.loads(ok.stdout)
    assert claims["measurement"] == info["measurement"] and claims["user_data"] == "yv4"
    # Refusals: wrong nonce, wrong measurement, higher version required, a forged token.
    one_line_error(cli("attest", "verify", ev.stdout.strip(), "--public-key", "platform.pem", "--nonce", "00"),
                   1, "nonce does not match")
    one_line_error(cli("attest", "verify", ev.stdout.strip(), "--public-key", "platform.pem", "--nonce", nonce,
                       "--expect-measurement", "ab" * 32), 1, "is not the expected")
    one_line_error(cli("attest", "verify", ev.stdout.strip(), "--public-key", "platform.pem", "--nonce", nonce,
                       "--min-security-version", "5"), 1, "below the required 5")
    forged = ev.stdout.strip()[:-4] + ("AAAA" if not ev.stdout.strip().endswith("AAAA") else "BBBB")
    one_line_error(cli("attest", "verify", forged, "--public-key", "platform.pem", "--nonce", nonce),
                   1, "signature does not verify")


def test_bad_input_is_one_line(cli, tee_probe: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one_line_error(cli("measure", "missing.wasm"), 65, "no such file")
    shutil.copyfile(tee_probe, tmp_path / "probe.wasm")
    one_line_error(cli("attest", "probe.wasm", "--nonce", "xyz"), 64, "--nonce must be hex")
    one_line_error(cli("attest", "verify", "a.b.c", "--public-key", "nope.pem", "--nonce", "00"), 64,
                   "cannot read the public key")
    (tmp_path / "nope.pem").write_text("x")
    one_line_error(cli("attest", "verify", "missing.txt", "--public-key", "nope.pem", "--nonce", "00"), 64,
                   "cannot read evidence")
    one_line_error(cli("attest", "verify", "a.b.c", "--public-key", "nope.pem", "--nonce", "00"), 1,
                   "not a PEM public key")
    assert cli("attest", "key").returncode == 0
    os.chmod(tmp_path / ".wasmhive" / "tee" / "attestation.key", 0o640)
    one_line_error(cli("attest", "key"), 1, "accessible to group/others")
    (tmp_path / "k.pem").write_text("not a key")
    os.chmod(tmp_path / "k.pem", 0o600)
    one_line_error(cli("sign", "probe.wasm", "--key", "k.pem"), 64, "not a PEM private key")
