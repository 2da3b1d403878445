"""Attestation evidence: a signed claims set saying which code ran, in which sandbox, for which nonce.

The format is a JWS compact serialization (a JWT) with `alg` EdDSA (Ed25519) and `typ`
`wasmhive-evidence+jwt`, signed by the platform's attestation key:

    base64url(header) . base64url(claims) . base64url(signature)

Claims: `fmt` ("wasmhive-evidence/1"), `tee` ("software": no hardware root of trust), `measurement`,
`signer` and `security_version` (from a valid signer manifest, else null/0), `config` (what the sandbox
granted: capabilities, limits) and `config_hash` (SHA-256 of its canonical JSON), `wasmhive` and
`wasmtime` versions, `nonce` and `user_data` (base64url), `iat` (seconds since the epoch) and `kid`.

A relying party pins the platform's attestation public key, sends a fresh nonce, and checks the
evidence with `verify_evidence` (or a `Verifier`, which also refuses a nonce it did not issue or has
already seen: replayed evidence).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._version import __version__
from ..errors import AttestationError
from ._keys import PlatformKeys
from ._measure import Identity
from ._signer import canonical

__all__ = ["FORMAT", "MAX_NONCE", "MAX_USER_DATA", "TYP", "Evidence", "Verifier", "config_hash", "load_public_key",
           "make_evidence", "verify_evidence"]

FORMAT = "wasmhive-evidence/1"
TYP = "wasmhive-evidence+jwt"
MAX_NONCE = 64
MAX_USER_DATA = 1024
MAX_TOKEN = 64 * 1024
DEFAULT_MAX_AGE = 300.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AttestationError(f"evidence: {what} is not base64url") from None


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a sandbox description."""
    return hashlib.sha256(canonical(dict(config))).hexdigest()


def _wasmtime_version() -> str:
    try:
        return metadata.version("wasmtime")
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed with wasmhive
        return "unknown"


def make_evidence(keys: PlatformKeys, identity: Identity, nonce: bytes, user_data: bytes = b"",
                  config: Mapping[str, Any] | None = None, *, now: float | None = None) -> str:
    """Signed evidence for `identity` running in a sandbox described by `config`, bound to `nonce`."""
    if not 1 <= len(nonce) <= MAX_NONCE:
        raise AttestationError(f"the nonce must be 1..{MAX_NONCE} bytes, got {len(nonce)}")
    if len(user_data) > MAX_USER_DATA:
        raise AttestationError(f"user data is at most {MAX_USER_DATA} bytes, got {len(user_data)}")
    cfg = dict(config or {})
    claims = {
        "fmt": FORMAT,
        "tee": "software",
        "measurement": identity.measurement,
        "signer": identity.signer,
        "security_version": identity.security_version,
        "config": cfg,
        "config_hash": config_hash(cfg),
        "wasmhive": __version__,
        "wasmtime": _wasmtime_version(),
        "nonce": _b64(nonce),
        "user_data": _b64(user_data),
        "iat": int(time.time() if now is None else now),
        "kid": keys.key_id,
    }
    header = {"alg": "EdDSA", "typ": TYP, "kid": keys.key_id}
    signing_input = f"{_b64(canonical(header))}.{_b64(canonical(claims))}"
    return f"{signing_input}.{_b64(keys.attestation.sign(signing_input.encode()))}"


@dataclass(frozen=True)
class Evidence:
    """Verified evidence: the claims, with `nonce` and `user_data` decoded."""

    claims: dict[str, Any]
    nonce: bytes
    user_data: bytes

    @property
    def measurement(self) -> str:
        return str(self.claims["measurement"])

    @property
    def signer(self) -> str | None:
        signer = self.claims.get("signer")
        return None if signer is None else str(signer)

    @property
    def security_version(self) -> int:
        return int(self.claims.get("security_version") or 0)


def load_public_key(data: bytes | str) -> Ed25519PublicKey:
    """An attestation public key from PEM (SubjectPublicKeyInfo) text."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError) as e:
        raise AttestationError(f"not a PEM public key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AttestationError("the attestation public key must be Ed25519")
    return key


def verify_evidence(token: str, public_key: Ed25519PublicKey, *, nonce: bytes,
                    expect_measurement: str | None = None, expect_signer: str | None = None,
                    min_security_version: int | None = None, expect_config_hash: str | None = None,
                    max_age: float = DEFAULT_MAX_AGE, now: float | None = None) -> Evidence:
    """Check `token`'s signature against the pinned `public_key`, then its nonce, age and expectations.

    Every failure is an `AttestationError` naming the first check that failed.
    """
    token = token.strip()
    if len(token) > MAX_TOKEN:
        raise AttestationError(f"evidence is larger than {MAX_TOKEN} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise AttestationError("evidence is not a JWS compact token (header.claims.signature)")
    try:
        header = json.loads(_unb64(parts[0], "header"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AttestationError("evidence: the header is not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA" or header.get("typ") != TYP:
        raise AttestationError(f"evidence: not {TYP} signed with EdDSA (header {header!r:.120})")
    try:
        public_key.verify(_unb64(parts[2], "signature"), f"{parts[0]}.{parts[1]}".encode())
    except InvalidSignature:
        raise AttestationError("evidence: the signature does not verify with the pinned attestation key "
                               "(forged, modified, or from another platform)") from None
    try:
        claims = json.loads(_unb64(parts[1], "claims"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AttestationError("evidence: the claims are not JSON") from None
    if not isinstance(claims, dict) or claims.get("fmt") != FORMAT:
        raise AttestationError(f"evidence: claims format is not {FORMAT}")
    got_nonce = _unb64(str(claims.get("nonce", "")), "nonce")
    if not secrets.compare_digest(got_nonce, nonce):
        raise AttestationError("evidence: the nonce does not match the one sent (stale or replayed evidence)")
    iat = claims.get("iat")
    t = time.time() if now is None else now
    if not isinstance(iat, int) or iat > t + 60 or t - iat > max_age:
        raise AttestationError(f"evidence: issued at {iat!r}, outside the accepted age ({max_age:.0f} s)")
    if expect_measurement is not None and claims.get("measurement") != expect_measurement.lower():
        raise AttestationError(f"evidence: measurement {str(claims.get('measurement'))[:16]}... is not the expected "
                               f"{expect_measurement[:16]}...")
    if expect_signer is not None and claims.get("signer") != expect_signer.lower():
        raise AttestationError(f"evidence: signer {claims.get('signer')!r:.24} is not the expected signer")
    svn = claims.get("security_version")
    if min_security_version is not None and (not isinstance(svn, int) or svn < min_security_version):
        raise AttestationError(f"evidence: security version {svn} is below the required {min_security_version}")
    if expect_config_hash is not None and claims.get("config_hash") != expect_config_hash.lower():
        raise AttestationError("evidence: the sandbox configuration hash is not the expected one")
    if config_hash(claims.get("config") or {}) != claims.get("config_hash"):
        raise AttestationError("evidence: config_hash does not match the config it carries")
    return Evidence(claims, got_nonce, _unb64(str(claims.get("user_data", "")), "user_data"))


class Verifier:
    """A relying party: pins the platform key, issues nonces, and accepts each nonce's evidence once.

    >>> v = Verifier(public_key)
    >>> nonce = v.challenge()                     # send it with the request
    >>> ev = v.verify(token, expect_measurement=m) # the token that came back
    """

    def __init__(self, public_key: Ed25519PublicKey, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.public_key = public_key
        self.max_age = max_age
        self._issued: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def challenge(self, size: int = 32) -> bytes:
        """A fresh random nonce, remembered until used or expired."""
        nonce = os.urandom(size)
        with self._lock:
            now = time.monotonic()
            for n in [n for n, t in self._issued.items() if now - t > self.max_age]:
                del self._issued[n]
            self._issued[nonce] = now
        return nonce

    def verify(self, token: str, nonce: bytes, **expect: Any) -> Evidence:
        """`verify_evidence` for a nonce this verifier issued; the nonce is consumed (a replay fails)."""
        with self._lock:
            if self._issued.pop(nonce, None) is None:
                raise AttestationError("evidence: this nonce was not issued here or was already used "
                                       "(replayed evidence)")
        return verify_evidence(token, self.public_key, nonce=nonce, max_age=self.max_age, **expect)
