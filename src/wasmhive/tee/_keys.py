"""The platform's secrets: the root sealing key and the attestation signing key, and where they come from.

Two providers, chosen by `platform_keys(environ, default_dir)`:

- **files** (default): `root.key` (32 random bytes) and `attestation.key` (Ed25519, PEM) in a directory
  (`$WASMHIVE_TEE_KEY_DIR`, else the app's state dir `.wasmhive/tee/`), created with mode 0600 on first
  use. A key file that group or others may read (or write) is refused: the platform does not start.
- **environment** (a KMS-like provider: an orchestrator injects secrets): `WASMHIVE_TEE_ROOT_KEY` and
  `WASMHIVE_TEE_ATTESTATION_KEY`, each 32 bytes in base64 (the Ed25519 key as its 32-byte seed). Both
  must be set together.

Whoever holds the root key can unseal everything sealed on this platform; whoever holds the attestation
key can forge evidence. See docs/CONFIDENTIAL.md for what that means.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigError, SealingError

__all__ = ["ENV_ATTESTATION_KEY", "ENV_KEY_DIR", "ENV_ROOT_KEY", "PlatformKeys", "check_private_file", "ed25519_from_pem",
           "platform_keys", "public_key_text"]

ENV_KEY_DIR = "WASMHIVE_TEE_KEY_DIR"
ENV_ROOT_KEY = "WASMHIVE_TEE_ROOT_KEY"
ENV_ATTESTATION_KEY = "WASMHIVE_TEE_ATTESTATION_KEY"
ROOT_FILE, ATTESTATION_FILE = "root.key", "attestation.key"


@dataclass(frozen=True)
class PlatformKeys:
    """The root sealing key and the attestation key of one platform (one host or one shared deployment)."""

    root: bytes
    attestation: Ed25519PrivateKey
    source: str  # where they came from, for messages (never the keys themselves)

    def __repr__(self) -> str:  # never print key material
        return f"PlatformKeys(source={self.source!r}, key_id={self.key_id})"

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.attestation.public_key()

    @property
    def key_id(self) -> str:
        """A short name for the attestation public key: the first 16 hex digits of its SHA-256."""
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(key: Ed25519PublicKey) -> str:
    """The attestation public key as PEM text (what a relying party pins)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def check_private_file(path: Path, what: str) -> bytes:
    """The bytes of secret file `path`, refusing a file that group or others may access, or a non-file."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SealingError(f"{path}: the {what} must be a regular file (not a symlink or device)")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealingError(f"{path}: the {what} is accessible to group/others (mode {stat.S_IMODE(st.st_mode):04o}); "
                           f"run `chmod 600 {path}` (refusing to use it)")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from None


def ed25519_from_pem(pem: bytes, what: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from unencrypted PKCS#8 PEM; `what` names it in the `ConfigError`."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{what} is not a PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{what} must be Ed25519, not {type(key).__name__}")
    return key


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _from_dir(directory: Path, create: bool) -> PlatformKeys:
    root_path, att_path = directory / ROOT_FILE, directory / ATTESTATION_FILE
    if create and not root_path.exists() and not att_path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            _write_private(root_path, os.urandom(32))
            new = Ed25519PrivateKey.generate()
            _write_private(att_path, new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
        except FileExistsError:
            pass  # another process created them first: use theirs
    root = check_private_file(root_path, "root sealing key")
    if len(root) != 32:
        raise SealingError(f"{root_path}: the root sealing key must be exactly 32 bytes, not {len(root)}")
    key = ed25519_from_pem(check_private_file(att_path, "attestation key"), f"{att_path}: the attestation key")
    return PlatformKeys(root, key, str(directory))


def _b64_32(environ: Mapping[str, str], name: str) -> bytes:
    try:
        raw = base64.b64decode(environ[name], validate=True)
    except ValueError:
        raise SealingError(f"${name} is not base64") from None
    if len(raw) != 32:
        raise SealingError(f"${name} must hold 32 bytes (base64), not {len(raw)}")
    return raw


def platform_keys(environ: Mapping[str, str] | None = None, default_dir: Path | None = None, *,
                  create: bool = True) -> PlatformKeys:
    """The platform keys from the environment provider, `$WASMHIVE_TEE_KEY_DIR`, or `default_dir`."""
    env = os.environ if environ is None else environ
    if ENV_ROOT_KEY in env or ENV_ATTESTATION_KEY in env:
        if not (ENV_ROOT_KEY in env and ENV_ATTESTATION_KEY in env):
            raise SealingError(f"set both ${ENV_ROOT_KEY} and ${ENV_ATTESTATION_KEY}, or neither")
        seed = _b64_32(env, ENV_ATTESTATION_KEY)
        return PlatformKeys(_b64_32(env, ENV_ROOT_KEY), Ed25519PrivateKey.from_private_bytes(seed), "environment")
    directory = Path(env[ENV_KEY_DIR]) if env.get(ENV_KEY_DIR) else default_dir
    if directory is None:
        raise ConfigError(f"no platform key location: set ${ENV_KEY_DIR} (or ${ENV_ROOT_KEY} and "
                          f"${ENV_ATTESTATION_KEY})")
    return _from_dir(directory, create)
