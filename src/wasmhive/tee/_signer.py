"""Signer manifests: an Ed25519 key vouches for a measurement at a security version (MRSIGNER's analogue).

A signer manifest is a small JSON document, usually stored next to the module as `<module>.signer.json`:

    {"format": "wasmhive-signer/1", "measurement": "<hex>", "security_version": 3,
     "public_key": "<base64 Ed25519>", "signature": "<base64>"}

The signature covers the canonical JSON of the other fields. The signer identity is SHA-256 of the public
key: every module signed by the same key shares it, which is what the "same signer" sealing policy binds
to. A newer release signed with a higher `security_version` can unseal what older ones sealed, never the
other way round.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigError, SealingError
from ._measure import Identity

__all__ = ["FORMAT", "MAX_SECURITY_VERSION", "identity_of", "load_signer_key", "read_signer_manifest",
           "sign_measurement", "signer_id", "signer_manifest_path", "verify_signer_manifest"]

FORMAT = "wasmhive-signer/1"
MAX_SECURITY_VERSION = 2**32 - 1  # stored as a u32 in sealed headers
_MAX_MANIFEST = 64 * 1024


def canonical(doc: dict[str, Any]) -> bytes:
    """The bytes a signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signer_id(public_key: Ed25519PublicKey) -> str:
    """The signer identity: SHA-256 (hex) of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def signer_manifest_path(module: str | os.PathLike[str]) -> Path:
    """Where a module's signer manifest lives by default: `<module>.signer.json`."""
    return Path(f"{os.fspath(module)}.signer.json")


def load_signer_key(path: str | os.PathLike[str], *, create: bool = False) -> Ed25519PrivateKey:
    """Read an Ed25519 private key (PEM, PKCS#8). With `create`, a missing file is generated with mode 0600.

    A key file readable by group or others is refused: whoever reads it can sign as you.
    """
    p = Path(path)
    if not p.exists() and create:
        new = Ed25519PrivateKey.generate()
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return new
    from ._keys import check_private_file, ed25519_from_pem

    return ed25519_from_pem(check_private_file(p, "signing key"), f"{p}: the signing key")


def sign_measurement(key: Ed25519PrivateKey, measurement: str, security_version: int) -> dict[str, Any]:
    """A signer manifest for `measurement` at `security_version`, signed by `key`."""
    if not 0 <= security_version <= MAX_SECURITY_VERSION:
        raise ConfigError(f"security version must be 0..{MAX_SECURITY_VERSION}, got {security_version}")
    raw_pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    doc: dict[str, Any] = {"format": FORMAT, "measurement": measurement, "security_version": security_version,
                           "public_key": base64.b64encode(raw_pub).decode()}
    doc["signature"] = base64.b64encode(key.sign(canonical(doc))).decode()
    return doc


def read_signer_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a signer manifest file (not yet verified)."""
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_MANIFEST:
            raise ConfigError(f"{p}: a signer manifest is at most {_MAX_MANIFEST} bytes")
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read signer manifest: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{p}: signer manifest is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: signer manifest must be a JSON object")
    return doc


def verify_signer_manifest(doc: dict[str, Any], measurement: str, where: str = "signer manifest") -> Identity:
    """Check the manifest's signature and that it names `measurement`; the resulting identity."""
    if doc.get("format") != FORMAT:
        raise SealingError(f"{where}: format must be {FORMAT!r}, got {doc.get('format')!r}")
    svn = doc.get("security_version")
    if not isinstance(svn, int) or isinstance(svn, bool) or not 0 <= svn <= MAX_SECURITY_VERSION:
        raise SealingError(f"{where}: security_version must be an integer 0..{MAX_SECURITY_VERSION}")
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(doc.get("public_key")), validate=True))
        sig = base64.b64decode(str(doc.get("signature")), validate=True)
    except ValueError as e:
        raise SealingError(f"{where}: bad public_key or signature encoding: {e}") from None
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        pub.verify(sig, canonical(body))
    except InvalidSignature:
        raise SealingError(f"{where}: the signature does not verify") from None
    if doc.get("measurement") != measurement:
        raise SealingError(f"{where}: signs measurement {str(doc.get('measurement'))[:16]}..., not this module "
                           f"({measurement[:16]}...)")
    return Identity(measurement, signer_id(pub), svn)


def identity_of(measurement: str, manifest: str | os.PathLike[str] | None) -> Identity:
    """The identity of a module with `measurement`: signed when `manifest` exists and verifies."""
    if manifest is None or not Path(manifest).is_file():
        return Identity(measurement)
    return verify_signer_manifest(read_signer_manifest(manifest), measurement, str(manifest))


