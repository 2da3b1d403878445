"""A module's or component's measurement: SHA-256 of its binary bytes (the analogue of SGX's MRENCLAVE).

The binary is what the runtime compiles: a `.wat` file is measured after conversion to its binary form,
so a module measures the same whichever form it was loaded from (and matches `Compiled.sha256`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Identity", "measure", "measure_bytes", "parse_measurement"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Identity:
    """Who a guest is, for sealing and attestation: its measurement, and its signer when a valid signer
    manifest names this measurement (`signer` = SHA-256 of the signer's Ed25519 public key, hex)."""

    measurement: str
    signer: str | None = None
    security_version: int = 0


def measure_bytes(data: bytes, source: str = "<bytes>") -> str:
    """The measurement (hex SHA-256) of a module or component given as binary or text bytes."""
    from ..runtime._loader import to_binary

    _, binary = to_binary(data, source)
    return hashlib.sha256(binary).hexdigest()


def measure(path: str | os.PathLike[str]) -> str:
    """The measurement (hex SHA-256) of the module or component in file `path`."""
    from ..runtime._loader import read_source

    return measure_bytes(read_source(path), str(path))


def parse_measurement(text: str, what: str = "measurement") -> str:
    """`text` as a lowercase 64-hex-digit SHA-256, or a `ConfigError` saying what it should look like."""
    value = text.strip().lower()
    if not _HEX64.match(value):
        raise ConfigError(f"{what} must be 64 hex digits (a SHA-256), got {text[:80]!r}")
    return value
