"""Sealing and attestation for C guests (core modules through `wasmhive_tee`), and the host-side core:
measurement, signer manifests, the sealed-blob format, platform key files."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from tee_fixtures import keys, tee_probe, tee_probe_variant
from wasmhive import Runtime, Sandbox
from wasmhive.errors import ConfigError, SealingError
from wasmhive.tee import (
    OVERHEAD,
    Identity,
    PlatformKeys,
    Sealer,
    TeeGuest,
    measure,
    platform_keys,
    run_command,
    sign_measurement,
    verify_evidence,
    verify_signer_manifest,
)

__all__ = ["keys", "tee_probe", "tee_probe_variant"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rt() -> Runtime:
    with Runtime(cache=False) as runtime:
        yield runtime  # type: ignore[misc]


def run(rt: Runtime, module: Path, keys: PlatformKeys, *args: str, stdin: bytes = b"", sealing: bool = True,
        attestation: bool = True, signer: dict[str, object] | None = None) -> tuple[int, bytes, str]:
    def guest_for(measurement: str) -> TeeGuest:
        ident = verify_signer_manifest(signer, measurement) if signer else Identity(measurement)
        return TeeGuest(ident, keys, sealing=sealing, attestation=attestation, config={"sealing": sealing})

    sandbox = Sandbox(args=["tee_probe", *args], stdin=stdin, stdout="capture", stderr="capture")
    result = run_command(rt, module, guest_for, sandbox=sandbox)
    return result.exit_code, result.stdout, result.stderr.decode()


def test_measurement_is_sha256_of_the_binary(tee_probe: Path) -> None:
    assert measure(tee_probe) == hashlib.sha256(tee_probe.read_bytes()).hexdigest()


def test_measurement_of_wat_is_of_its_binary(tmp_path: Path) -> None:
    import wasmtime

    (tmp_path / "m.wat").write_text("(module (func (export \"f\")))")
    (tmp_path / "m.wasm").write_bytes(wasmtime.wat2wasm("(module (func (export \"f\")))"))
    assert measure(tmp_path / "m.wat") == measure(tmp_path / "m.wasm")


def test_c_guest_seal_unseal_round_trip(rt: Runtime, tee_probe: Path, keys: PlatformKeys) -> None:
    secret = os.urandom(1000) + b"the end"
    code, sealed, err = run(rt, tee_probe, keys, "seal", "code", stdin=secret)
    assert code == 0, err
    assert len(sealed) == len(secret) + OVERHEAD and secret not in sealed
    code, plain, err = run(rt, tee_probe, keys, "unseal", stdin=sealed)
    assert (code, plain) == (0, secret), err
    # The host can check it is what the measured module sealed (the same derivation, the same identity).
    assert Sealer(keys.root).unseal(sealed, Identity(measure(tee_probe))) == secret


def test_another_module_cannot_unseal(rt: Runtime, tee_probe: Path, tee_probe_variant: Path,
                                      keys: PlatformKeys) -> None:
    _, sealed, _ = run(rt, tee_probe, keys, "seal", "code", stdin=b"only for variant 1")
    code, plain, err = run(rt, tee_probe_variant, keys, "unseal", stdin=sealed)
    assert code == 5 and plain == b""  # WASMHIVE_TEE_E_OTHER_CODE
    assert "sealed for another module" in err


def test_tampered_blob_is_refused(rt: Runtime, tee_probe: Path, keys: PlatformKeys) -> None:
    _, sealed, _ = run(rt, tee_probe, keys, "seal", "code", stdin=b"payload")
    for i in (5, 45, 60, len(sealed) - 20, len(sealed) - 1):  # header svn, salt, nonce, ciphertext, tag
        bad = bytearray(sealed)
        bad[i] ^= 1
        code, plain, err = run(rt, tee_probe, keys, "unseal", stdin=bytes(bad))
        assert code in (7, 9) and plain == b"", (i, err)  # header fields are authenticated too
    code, _, err = run(rt, tee_probe, keys, "unseal", stdin=b"WHS\x01short")
    assert code == 4 and "not a wasmhive sealed blob" in err


def test_another_platform_cannot_unseal(rt: Runtime, tee_probe: Path, keys: PlatformKeys, tmp_path: Path) -> None:
    _, sealed, _ = run(rt, tee_probe, keys, "seal", "code", stdin=b"payload")
    other = platform_keys({}, tmp_path / "other-platform")
    code, _, err = run(rt, tee_probe, other, "unseal", stdin=sealed)
    assert code == 9 and "authentication failed" in err


def test_sealing_not_granted_is_denied(rt: Runtime, tee_probe: Path, keys: PlatformKeys) -> None:
    code, out, err = run(rt, tee_probe, keys, "seal", "code", stdin=b"x", sealing=False)
    assert code == 1 and out == b"" and "not granted" in err


def test_signer_policy_and_security_versions(rt: Runtime, tee_probe: Path, tee_probe_variant: Path,
                                             keys: PlatformKeys) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = Ed25519PrivateKey.generate()
    v1 = sign_measurement(signer, measure(tee_probe), 1)
    v2 = sign_measurement(signer, measure(tee_probe_variant), 2)
    # Version 1 seals; version 2 (another module, same signer, higher version) unseals.
    code, sealed, err = run(rt, tee_probe, keys, "seal", "signer", stdin=b"carried across releases", signer=v1)
    assert code == 0, err
    code, plain, err = run(rt, tee_probe_variant, keys, "unseal", stdin=sealed, signer=v2)
    assert (code, plain) == (0, b"carried across releases"), err
    # Version 2 seals; version 1 may not read it (a downgrade).
    _, newer, _ = run(rt, tee_probe_variant, keys, "seal", "signer", stdin=b"new data", signer=v2)
    code, plain, err = run(rt, tee_probe, keys, "unseal", stdin=newer, signer=v1)
    assert code == 7 and plain == b"" and "security version 2" in err
    # Another signer, same code: refused; unsigned: the signer policy cannot even be used.
    stranger = sign_measurement(Ed25519PrivateKey.generate(), measure(tee_probe), 9)
    code, _, err = run(rt, tee_probe, keys, "unseal", stdin=sealed, signer=stranger)
    assert code == 6 and "another signer" in err
    code, _, err = run(rt, tee_probe, keys, "seal", "signer", stdin=b"x")
    assert code == 8 and "unsigned" in err


def test_pointers_outside_memory_are_refused(rt: Runtime, tee_probe: Path, keys: PlatformKeys) -> None:
    code, out, err = run(rt, tee_probe, keys, "fault")
    assert code == 0, err
    assert out.split() == [b"-2", b"-2", b"-2", b"-2"]
    code, out, _ = run(rt, tee_probe, keys, "small")
    assert out.strip() == b"-3"


def test_c_guest_report_verifies(rt: Runtime, tee_probe: Path, keys: PlatformKeys) -> None:
    nonce = os.urandom(16).hex().encode()  # the probe passes argv bytes: use printable ones
    code, token, err = run(rt, tee_probe, keys, "report", nonce.decode(), "pubkey-bytes")
    assert code == 0, err
    ev = verify_evidence(token.decode(), keys.public_key, nonce=nonce, expect_measurement=measure(tee_probe))
    assert ev.user_data == b"pubkey-bytes" and ev.claims["tee"] == "software"
    code, _, err = run(rt, tee_probe, keys, "report", nonce.decode(), "x", attestation=False)
    assert code == 1 and "not granted" in err


def test_signer_manifest_must_name_the_measurement(tee_probe: Path, tee_probe_variant: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    doc = sign_measurement(Ed25519PrivateKey.generate(), measure(tee_probe), 3)
    assert verify_signer_manifest(doc, measure(tee_probe)).security_version == 3
    with pytest.raises(SealingError, match="signs measurement"):
        verify_signer_manifest(doc, measure(tee_probe_variant))
    forged = dict(doc, security_version=4)
    with pytest.raises(SealingError, match="signature does not verify"):
        verify_signer_manifest(forged, measure(tee_probe))


def test_platform_key_files_are_private(tmp_path: Path) -> None:
    k = platform_keys({}, tmp_path / "p")
    for name in ("root.key", "attestation.key"):
        assert stat.S_IMODE((tmp_path / "p" / name).stat().st_mode) == 0o600
    assert platform_keys({}, tmp_path / "p").root == k.root  # reused, not regenerated
    os.chmod(tmp_path / "p" / "root.key", 0o644)
    with pytest.raises(SealingError, match="chmod 600"):
        platform_keys({}, tmp_path / "p")
    assert k.root.hex() not in repr(k) and repr(k.root) not in repr(k)  # keys never appear in a repr


def test_environment_key_provider(tmp_path: Path) -> None:
    import base64

    env = {"WASMHIVE_TEE_ROOT_KEY": base64.b64encode(b"r" * 32).decode(),
           "WASMHIVE_TEE_ATTESTATION_KEY": base64.b64encode(b"a" * 32).decode()}
    k = platform_keys(env, None)
    assert k.root == b"r" * 32 and k.source == "environment"
    with pytest.raises(SealingError, match="set both"):
        platform_keys({"WASMHIVE_TEE_ROOT_KEY": env["WASMHIVE_TEE_ROOT_KEY"]}, tmp_path)
    with pytest.raises(SealingError, match="32 bytes"):
        platform_keys(dict(env, WASMHIVE_TEE_ROOT_KEY="c2hvcnQ="), None)
    with pytest.raises(ConfigError, match="no platform key location"):
        platform_keys({}, None)


WAGI_MANIFEST = """
[[trigger.http]]
route = "/probe"
component = "probe"
executor = { type = "wagi" }

[[trigger.http]]
route = "/variant"
component = "variant"
executor = { type = "wagi" }

[[trigger.http]]
route = "/plain"
component = "plain"
executor = { type = "wagi" }

[component.probe]
source = "probe.wasm"
sealing = true
attestation = true

[component.variant]
source = "variant.wasm"
sealing = true

[component.plain]
source = "probe.wasm"
"""


def test_c_wagi_module_in_an_app(tee_probe: Path, tee_probe_variant: Path, tmp_path: Path) -> None:
    import shutil

    from app_fixtures import write_app
    from wasmhive import App
    from wasmhive.app import RuntimeOptions
    from wasmhive.http import Request
    from wasmhive.http._attest import EVIDENCE_HEADER, NONCE_HEADER

    shutil.copyfile(tee_probe, tmp_path / "probe.wasm")
    shutil.copyfile(tee_probe_variant, tmp_path / "variant.wasm")
    cfg = write_app(tmp_path, WAGI_MANIFEST, runtime=RuntimeOptions(environ={"WASMHIVE_TEE_KEY_DIR": str(tmp_path / "k")}))
    with App(cfg) as app:
        http = app.http_app(close_app=False)
        keys = app.capabilities.state("sealing").keys
        sealed = http.handle(Request("POST", "/probe", "seal&code", [], b"wagi secret"))
        assert sealed.status == 200 and len(sealed.body) == len(b"wagi secret") + OVERHEAD
        plain = http.handle(Request("POST", "/probe", "unseal", [], sealed.body))
        assert (plain.status, plain.body) == (200, b"wagi secret")
        other = http.handle(Request("POST", "/variant", "unseal", [], sealed.body))
        assert other.status == 422 and b"error -5: sealed for another module" in other.body
        # Without the grant the module's wasmhive_tee imports are not linked: it does not run at all.
        assert http.handle(Request("POST", "/plain", "seal&code", [], b"x")).status == 500
        nonce = os.urandom(8)
        r = http.handle(Request("GET", "/probe", "measurement", [(NONCE_HEADER, nonce.hex())]))
        assert r.status == 200 and r.body.decode() == measure(tmp_path / "probe.wasm")
        token = r.header(EVIDENCE_HEADER)
        assert token is not None
        verify_evidence(token.decode(), keys.public_key, nonce=nonce, expect_measurement=r.body.decode())
        http.close()


def test_run_command_needs_a_wasi_command(rt: Runtime, keys: PlatformKeys) -> None:
    from wasmhive.errors import InvalidModule

    with pytest.raises(InvalidModule, match="exports no `_start`"):
        run_command(rt, b'(module (memory (export "memory") 1))', lambda m: TeeGuest(Identity(m), keys))
