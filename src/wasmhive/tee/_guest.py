"""What one guest may do with the TEE interfaces: its identity, its grants, and the platform's keys.

Both guest ABIs (the `wasmhive:tee` component interfaces and the `wasmhive_tee` core-module functions)
call these methods, so the checks are the same whichever way a guest asks. A capability the sandbox
did not grant is refused here, at call time, even if a linker defined the function (deny by default,
checked twice: the manifest grant is checked at start-up as well).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import AttestationError, SealingError
from ._evidence import MAX_NONCE, MAX_USER_DATA, make_evidence
from ._keys import PlatformKeys
from ._measure import Identity
from ._seal import Sealer

__all__ = ["MAX_SEAL_INPUT", "TeeGuest"]

MAX_SEAL_INPUT = 64 * 1024 * 1024  # one seal/unseal call; a guest cannot make the host buffer more


@dataclass
class TeeGuest:
    """One guest's view of the TEE: `identity` (measurement/signer), what it was granted, the keys."""

    identity: Identity
    keys: PlatformKeys
    sealing: bool = False
    attestation: bool = False
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._sealer = Sealer(self.keys.root)

    def for_measurement(self, measurement: str) -> TeeGuest:
        """This guest, if `measurement` (of the bytes actually loaded) is the one it was granted for.

        The grant was resolved from the file at start-up; a file replaced since then is another module."""
        if measurement != self.identity.measurement:
            raise SealingError(f"the module loaded ({measurement[:16]}...) is not the one measured at start-up "
                               f"({self.identity.measurement[:16]}...)", reason="other-code")
        return self

    def seal(self, data: bytes, policy: str) -> bytes:
        if not self.sealing:
            raise SealingError("sealing is not granted to this guest (set `sealing = true` for its component)",
                               reason="denied")
        if len(data) > MAX_SEAL_INPUT:
            raise SealingError(f"at most {MAX_SEAL_INPUT} bytes per seal call", reason="invalid")
        return self._sealer.seal(data, policy, self.identity)

    def unseal(self, blob: bytes) -> bytes:
        if not self.sealing:
            raise SealingError("sealing is not granted to this guest (set `sealing = true` for its component)",
                               reason="denied")
        if len(blob) > MAX_SEAL_INPUT + 128:
            raise SealingError(f"at most {MAX_SEAL_INPUT} bytes per unseal call", reason="invalid")
        return self._sealer.unseal(blob, self.identity)

    def report(self, nonce: bytes, user_data: bytes) -> str:
        if not self.attestation:
            raise AttestationError("attestation is not granted to this guest (set `attestation = true` for its "
                                   "component)")
        if not 1 <= len(nonce) <= MAX_NONCE or len(user_data) > MAX_USER_DATA:
            raise AttestationError(f"report needs a 1..{MAX_NONCE}-byte nonce and at most {MAX_USER_DATA} bytes "
                                   "of user data")
        return make_evidence(self.keys, self.identity, nonce, user_data, self.config)
