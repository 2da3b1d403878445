"""The relying party of the confidential example: check which code answers before trusting it a secret.

    python client.py BASE_URL [--public-key platform.pem] [--expect vault/vault.wasm] [--secret TEXT]

1. Sends a fresh nonce to /vault/key; verifies the evidence that comes back: signed by the platform key
   it pins, for this nonce, with the measurement of the vault it expects, and binding the public key it
   was handed (user data). Only then:
2. boxes the secret to that public key (X25519 + HMAC'd stream, see vault/box.py) and POSTs it;
3. asks /vault/use?msg=... in a later request and checks the HMAC: the vault unsealed the secret again;
4. shows that the impostor (same program, one word changed) fails step 1 (its evidence names another
   measurement) and cannot unseal the stored secret either.
Exits 0 if every check came out as it should. The platform key and measurement default to
`wasmhive attest key` / `wasmhive measure vault/vault.wasm`, run here.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from wasmhive.errors import AttestationError
from wasmhive.tee import Verifier, load_public_key, measure

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "vault"))
import box  # noqa: E402  (the same box code the guest runs)


def call(url: str, body: bytes | None = None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def attested_key(base: str, verifier: Verifier, expected: str) -> bytes:
    """The public key /key hands out, if its evidence says the expected code holds it; else AttestationError."""
    nonce = verifier.challenge()
    status, doc = call(f"{base}/key?nonce={nonce.hex()}")
    if status != 200:
        raise AttestationError(f"/key answered {status}: {doc}")
    public = bytes.fromhex(str(doc["public_key"]))
    ev = verifier.verify(str(doc["evidence"]), nonce, expect_measurement=expected)
    if ev.user_data != public:
        raise AttestationError("the evidence does not bind the public key we were given")
    return public


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="e.g. http://127.0.0.1:3000")
    ap.add_argument("--public-key", help="the platform's attestation key (PEM) [default: `wasmhive attest key`]")
    ap.add_argument("--expect", default=str(HERE / "vault" / "vault.wasm"), help="the vault module you trust")
    ap.add_argument("--secret", default="correct horse battery staple")
    args = ap.parse_args()
    if args.public_key:
        pem = Path(args.public_key).read_bytes()
    else:
        pem = subprocess.run(["wasmhive", "attest", "key"], check=True, capture_output=True, cwd=HERE).stdout
    verifier = Verifier(load_public_key(pem))
    expected = measure(args.expect)
    print(f"expecting vault measurement {expected[:16]}...")

    vault_pub = attested_key(f"{args.base}/vault", verifier, expected)
    print(f"1. evidence verified: the vault's public key {vault_pub.hex()[:16]}... belongs to the expected code")

    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(vault_pub))
    ct, tag = box.close(shared, eph_pub, vault_pub, args.secret.encode())
    status, doc = call(f"{args.base}/vault/secret",
                       json.dumps({"ephemeral": eph_pub.hex(), "ciphertext": ct.hex(), "tag": tag.hex()}).encode())
    assert status == 200, (status, doc)
    print("2. secret sent, boxed to that key; the vault sealed it to its own measurement")

    msg = os.urandom(8).hex()
    status, doc = call(f"{args.base}/vault/use?msg={msg}")
    want = hmac.new(args.secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
    assert status == 200 and doc["hmac"] == want, (status, doc)
    print("3. a later request unsealed it: the vault's HMAC over a fresh message matches")

    try:
        attested_key(f"{args.base}/impostor", verifier, expected)
    except AttestationError as e:
        print(f"4. the impostor's evidence is refused: {e}")
    else:
        print("4. FAILED: the impostor's evidence was accepted")
        return 1
    status, doc = call(f"{args.base}/impostor/use?msg={msg}")
    if status != 403:
        print(f"5. FAILED: the impostor answered {status} {doc}")
        return 1
    print(f"5. the impostor cannot unseal the stored secret: {doc['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
