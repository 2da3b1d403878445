"""Sealing and attestation for Python components (componentize-py guests importing wasmhive:tee), through
the app model and the HTTP trigger: grants, cross-module refusal, signer policy, tampering, evidence."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app_fixtures import write_app
from tee_fixtures import tee_pyguest, tee_pyguest_two
from wasmhive import App, Runtime
from wasmhive.app import RuntimeOptions
from wasmhive.errors import AttestationError, ConfigError, SealingError
from wasmhive.http import Request
from wasmhive.http._attest import EVIDENCE_HEADER, NONCE_HEADER, request_digest
from wasmhive.tee import (
    Identity,
    Sealer,
    Verifier,
    measure,
    platform_keys,
    sign_measurement,
    signer_manifest_path,
    verify_evidence,
)

__all__ = ["tee_pyguest", "tee_pyguest_two"]

pytestmark = pytest.mark.slow

MANIFEST = """
[application]
name = "tee-test"

[[trigger.http]]
route = "/one/..."
component = "one"

[[trigger.http]]
route = "/two/..."
component = "two"

[[trigger.http]]
route = "/plain/..."
component = "plain"

[component.one]
source = "one.wasm"
sealing = true
attestation = true

[component.two]
source = "two.wasm"
sealing = true
attestation = true

[component.plain]
source = "one.wasm"
"""


@pytest.fixture(scope="module")
def rt(compile_cache: Path) -> Iterator[Runtime]:
    with Runtime(cache=compile_cache, concurrency=False) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory, tee_pyguest: Path, tee_pyguest_two: Path) -> Path:
    d = tmp_path_factory.mktemp("tee-app")
    shutil.copyfile(tee_pyguest, d / "one.wasm")
    shutil.copyfile(tee_pyguest_two, d / "two.wasm")
    return d


class Client:
    """The socket-free HTTP trigger of one loaded app."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.http = app.http_app(close_app=False)
        self.keys = app.capabilities.state("sealing").keys

    def __call__(self, method: str, path: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
                 ) -> Any:
        path, _, query = path.partition("?")
        return self.http.handle(Request(method, path, query, headers or [], body))


def load(app_dir: Path, rt: Runtime, keydir: Path) -> App:
    cfg = write_app(app_dir, MANIFEST, runtime=RuntimeOptions(environ={"WASMHIVE_TEE_KEY_DIR": str(keydir)}))
    return App(cfg, runtime=rt)


@pytest.fixture(scope="module")
def client(app_dir: Path, rt: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    app = load(app_dir, rt, tmp_path_factory.mktemp("keys") / "k")
    c = Client(app)
    yield c
    c.http.close()
    app.close()


def test_seal_unseal_round_trip(client: Client, app_dir: Path) -> None:
    secret = os.urandom(5000)
    r = client("POST", "/one/seal", secret)
    assert r.status == 200, r.text
    sealed = r.body
    assert secret not in sealed and len(sealed) == len(secret) + 85
    r = client("POST", "/one/unseal", sealed)
    assert (r.status, r.body) == (200, secret)
    # Bound to the component's bytes: the host derives the same key from the measurement of one.wasm.
    assert Sealer(client.keys.root).unseal(sealed, Identity(measure(app_dir / "one.wasm"))) == secret


def test_another_component_cannot_unseal(client: Client) -> None:
    sealed = client("POST", "/one/seal", b"for one only").body
    r = client("POST", "/two/unseal", sealed)
    assert r.status == 422 and r.text.startswith("err:other-code:sealed for another module")


def test_tampered_blob_is_refused(client: Client) -> None:
    sealed = bytearray(client("POST", "/one/seal", b"payload").body)
    sealed[-3] ^= 0x40
    r = client("POST", "/one/unseal", bytes(sealed))
    assert r.status == 422 and r.text.startswith("err:tampered:authentication failed")
    r = client("POST", "/one/unseal", b"not sealed at all")
    assert r.status == 422 and r.text.startswith("err:invalid:")


def test_ungranted_component_is_denied(client: Client) -> None:
    # `plain` runs the very same bytes as `one` but its manifest grants nothing.
    for path in ("/plain/seal", "/plain/unseal", "/plain/report?nonce=00"):
        r = client("POST" if "seal" in path else "GET", path, b"x")
        assert r.status == 422 and r.text.startswith("err:denied:"), (path, r.text)
    assert client("GET", "/plain/x", headers=[(NONCE_HEADER, "0011")]).header(EVIDENCE_HEADER) is None


def test_guest_report_verifies_and_binds_user_data(client: Client, app_dir: Path) -> None:
    verifier = Verifier(client.keys.public_key)
    nonce, pub = verifier.challenge(), os.urandom(32)
    r = client("GET", f"/one/report?nonce={nonce.hex()}&data={pub.hex()}")
    assert r.status == 200, r.text
    token = r.text
    ev = verifier.verify(token, nonce, expect_measurement=measure(app_dir / "one.wasm"))
    assert ev.user_data == pub
    assert ev.claims["config"]["component"] == "one"
    assert ev.claims["config"]["capabilities"]["sealing"] is True
    assert ev.claims["wasmtime"].startswith("50.") and ev.claims["tee"] == "software"
    # Replayed: the verifier already consumed that nonce.
    with pytest.raises(AttestationError, match="replayed"):
        verifier.verify(token, nonce)
    # Wrong nonce, wrong measurement.
    with pytest.raises(AttestationError, match="nonce does not match"):
        verify_evidence(token, client.keys.public_key, nonce=os.urandom(32))
    with pytest.raises(AttestationError, match="measurement"):
        verify_evidence(token, client.keys.public_key, nonce=nonce, expect_measurement=measure(app_dir / "two.wasm"))
    # Bad signature: a modified claims set, and evidence checked against another platform's key.
    head, claims, sig = token.split(".")
    import base64

    doc = json.loads(base64.urlsafe_b64decode(claims + "=="))
    doc["measurement"] = measure(app_dir / "two.wasm")
    forged_claims = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    with pytest.raises(AttestationError, match="signature does not verify"):
        verify_evidence(f"{head}.{forged_claims}.{sig}", client.keys.public_key, nonce=nonce)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(AttestationError, match="signature does not verify"):
        verify_evidence(token, other, nonce=nonce)
    # Too old.
    with pytest.raises(AttestationError, match="outside the accepted age"):
        verify_evidence(token, client.keys.public_key, nonce=nonce, now=ev.claims["iat"] + 3600)


def test_evidence_header_on_request(client: Client, app_dir: Path) -> None:
    nonce = os.urandom(24)
    r = client("GET", "/two/measurement?x=1", headers=[(NONCE_HEADER, nonce.hex())])
    assert r.status == 200
    token = r.header(EVIDENCE_HEADER)
    assert token is not None
    ev = verify_evidence(token.decode(), client.keys.public_key, nonce=nonce,
                         expect_measurement=measure(app_dir / "two.wasm"))
    assert ev.user_data == request_digest("GET", "/two/measurement?x=1")
    assert r.text == ev.measurement  # the guest's own view of its measurement agrees
    assert client("GET", "/two/measurement").header(EVIDENCE_HEADER) is None  # only on request
    bad = client("GET", "/two/measurement", headers=[(NONCE_HEADER, "zz")])
    assert bad.status == 200 and bad.header("wasmhive-attestation-error") is not None


def test_signer_policy_across_versions(app_dir: Path, rt: Runtime, tmp_path: Path) -> None:
    d = tmp_path / "signed"
    d.mkdir()
    for name in ("one.wasm", "two.wasm"):
        shutil.copyfile(app_dir / name, d / name)
    signer = Ed25519PrivateKey.generate()
    for name, svn in (("one.wasm", 1), ("two.wasm", 2)):
        signer_manifest_path(d / name).write_text(json.dumps(sign_measurement(signer, measure(d / name), svn)))
    app = load(d, rt, tmp_path / "keys")
    c = Client(app)
    try:
        old = c("POST", "/one/seal?policy=same-signer", b"v1 data")
        assert old.status == 200, old.text
        r = c("POST", "/two/unseal", old.body)  # an upgrade reads what the older release sealed
        assert (r.status, r.body) == (200, b"v1 data")
        new = c("POST", "/two/seal?policy=same-signer", b"v2 data").body
        r = c("POST", "/one/unseal", new)  # a downgrade may not
        assert r.status == 422 and r.text.startswith("err:old-version:sealed at security version 2")
        r = c("POST", "/plain/seal?policy=same-signer", b"x")
        assert r.text.startswith("err:denied:")
    finally:
        c.http.close()
        app.close()
    # Unsigned components cannot use the signer policy.
    app = load(app_dir, rt, tmp_path / "keys")
    c = Client(app)
    try:
        r = c("POST", "/one/seal?policy=same-signer", b"x")
        assert r.status == 422 and r.text.startswith("err:unsigned:")
    finally:
        c.http.close()
        app.close()


def test_bad_grants_and_keys_refuse_to_start(app_dir: Path, rt: Runtime, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sealing must be true or false"):
        write_app(tmp_path / "a", MANIFEST.replace("sealing = true", 'sealing = "yes"', 1),
                  files={"one.wasm": b"", "two.wasm": b""})
    keydir = tmp_path / "world-readable"
    platform_keys({}, keydir)
    os.chmod(keydir / "attestation.key", 0o644)
    with pytest.raises(SealingError, match="accessible to group/others"):
        load(app_dir, rt, keydir)
    # A signer manifest that does not verify stops the app at start-up, naming the component.
    d = tmp_path / "forged"
    d.mkdir()
    shutil.copyfile(app_dir / "one.wasm", d / "one.wasm")
    shutil.copyfile(app_dir / "two.wasm", d / "two.wasm")
    doc = sign_measurement(Ed25519PrivateKey.generate(), measure(d / "one.wasm"), 1)
    doc["security_version"] = 7
    signer_manifest_path(d / "one.wasm").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=r"component `one`.*signature does not verify"):
        load(d, rt, tmp_path / "keys")
