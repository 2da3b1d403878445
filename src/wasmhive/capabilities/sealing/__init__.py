"""Sealing and attestation for components (`wasmhive:tee`); the primitives live in `wasmhive.tee`."""

from ._factor import INTERFACES, SealingApp, SealingFactor, sandbox_description

__all__ = ["INTERFACES", "SealingApp", "SealingFactor", "sandbox_description"]
