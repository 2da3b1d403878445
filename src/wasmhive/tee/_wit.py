"""Where our WIT package `wasmhive:tee` lives, and its interface names (the build helper for guests that
use it is `wasmhive.app.teewit`)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ATTESTATION", "SEALING", "TEE_WIT", "VERSION"]

TEE_WIT = Path(__file__).resolve().parent.parent / "wit" / "tee"
VERSION = "0.1.0"
SEALING = f"wasmhive:tee/sealing@{VERSION}"
ATTESTATION = f"wasmhive:tee/attestation@{VERSION}"
