"""Confidential computing on a software root of trust: measurement, signer manifests, sealing, attestation.

    measure(path) -> hex SHA-256            the module's measurement (MRENCLAVE's analogue)
    sign_measurement(key, m, svn) -> dict   a signer manifest (MRSIGNER's analogue + security version)
    Sealer(root_key).seal/unseal            AES-256-GCM, HKDF keys bound to the measurement or signer
    make_evidence / verify_evidence         signed claims (a JWT) about which code ran, for a nonce
    Verifier                                a relying party: pinned key, single-use nonces
    TeeGuest                                one guest's grants + identity (both guest ABIs call it)

What this protects and what it does not: docs/CONFIDENTIAL.md.
"""

from ._core_abi import MODULE, define_core, run_command
from ._evidence import Evidence, Verifier, config_hash, load_public_key, make_evidence, verify_evidence
from ._guest import TeeGuest
from ._keys import PlatformKeys, platform_keys, public_key_text
from ._measure import Identity, measure, measure_bytes, parse_measurement
from ._seal import OVERHEAD, POLICIES, Sealer, sealed_policy
from ._signer import (
    identity_of,
    load_signer_key,
    read_signer_manifest,
    sign_measurement,
    signer_id,
    signer_manifest_path,
    verify_signer_manifest,
)

__all__ = [
    "MODULE",
    "OVERHEAD",
    "POLICIES",
    "Evidence",
    "Identity",
    "PlatformKeys",
    "Sealer",
    "TeeGuest",
    "Verifier",
    "config_hash",
    "define_core",
    "identity_of",
    "load_public_key",
    "load_signer_key",
    "make_evidence",
    "measure",
    "measure_bytes",
    "parse_measurement",
    "platform_keys",
    "public_key_text",
    "read_signer_manifest",
    "run_command",
    "sealed_policy",
    "sign_measurement",
    "signer_id",
    "signer_manifest_path",
    "verify_evidence",
    "verify_signer_manifest",
]
