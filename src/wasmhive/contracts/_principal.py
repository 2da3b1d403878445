"""Principals (the IC's identities: users, canisters, anonymous) and Ed25519 user identities."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["ANONYMOUS", "MANAGEMENT", "Identity", "Principal", "canister_principal"]


@dataclass(frozen=True, order=True)
class Principal:
    """A principal: up to 29 opaque bytes, written in the IC's textual form (`aaaaa-aa`)."""

    raw: bytes

    @classmethod
    def from_text(cls, text: str) -> Principal:
        """Parse `xxxxx-xxxxx-...-xxx`; the CRC32 checksum is verified."""
        s = text.strip().replace("-", "").upper()
        try:
            data = base64.b32decode(s + "=" * (-len(s) % 8))
        except Exception:
            raise ConfigError(f"not a principal: {text!r}") from None
        if len(data) < 4:
            raise ConfigError(f"not a principal: {text!r}")
        raw = data[4:]
        if zlib.crc32(raw).to_bytes(4, "big") != data[:4] or cls(raw).text != text.strip():
            raise ConfigError(f"bad principal checksum or form: {text!r}")
        return cls(raw)

    @property
    def text(self) -> str:
        enc = base64.b32encode(zlib.crc32(self.raw).to_bytes(4, "big") + self.raw).decode().lower().rstrip("=")
        return "-".join(enc[i:i + 5] for i in range(0, len(enc), 5))

    @property
    def is_anonymous(self) -> bool:
        return self.raw == b"\x04"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Principal({self.text!r})"


ANONYMOUS = Principal(b"\x04")
MANAGEMENT = Principal(b"")


def canister_principal(index: int) -> Principal:
    """The id of the `index`-th canister created by a VM (IC-style opaque id: 8 bytes + 0x01 0x01)."""
    return Principal(index.to_bytes(8, "big") + b"\x01\x01")


_ED25519_DER_PREFIX = bytes.fromhex("302a300506032b6570032100")


class Identity:
    """An Ed25519 key pair and its self-authenticating principal (as `dfx identity` makes them)."""

    def __init__(self, name: str, private_key: object | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.name = name
        self._key = private_key if private_key is not None else Ed25519PrivateKey.generate()

    @property
    def public_key_der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        raw: bytes = self._key.public_key().public_bytes(serialization.Encoding.Raw,  # type: ignore[attr-defined]
                                                  serialization.PublicFormat.Raw)
        return _ED25519_DER_PREFIX + raw

    @property
    def principal(self) -> Principal:
        return self_authenticating(self.public_key_der)

    def sign(self, data: bytes) -> bytes:
        sig: bytes = self._key.sign(data)  # type: ignore[attr-defined]
        return bytes(sig)

    def to_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(self._key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                             serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> Identity:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"identity {name!r} is not a readable PEM private key: {e}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"identity {name!r} is not an Ed25519 key")
        return cls(name, key)

    # -- on-disk store: <dir>/<name>.pem plus <dir>/default (the selected name) --------------------
    @classmethod
    def load(cls, directory: Path, name: str | None = None) -> Identity | None:
        """The named (or selected) identity; None for `anonymous`."""
        name = name or current_identity_name(directory)
        if name == "anonymous":
            return None
        path = directory / f"{_checked_name(name)}.pem"
        if not path.exists():
            raise ConfigError(f"no identity named {name!r} (create it with `wasmhive contract identity new {name}`)")
        return cls.from_pem(name, path.read_bytes())

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_checked_name(self.name)}.pem"
        if path.exists():
            raise ConfigError(f"identity {self.name!r} already exists")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.to_pem())
        return path


def _checked_name(name: str) -> str:
    """An identity name is a file name in the identity directory: no paths, no hidden files."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise ConfigError(f"bad identity name {name!r}: use letters, digits, '_', '.' and '-' (up to 64)")
    return name


def current_identity_name(directory: Path) -> str:
    sel = directory / "default"
    return sel.read_text().strip() if sel.exists() else "anonymous"


def self_authenticating(public_key_der: bytes) -> Principal:
    """The principal of a public key: SHA-224 of its DER form, then the 0x02 tag."""
    return Principal(hashlib.sha224(public_key_der).digest() + b"\x02")


def verify_signature(public_key_der: bytes, signature: bytes, data: bytes) -> bool:
    """Check an Ed25519 signature by a DER-encoded public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not public_key_der.startswith(_ED25519_DER_PREFIX) or len(public_key_der) != 44:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key_der[12:]).verify(signature, data)
        return True
    except (InvalidSignature, ValueError):
        return False
