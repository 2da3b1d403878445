"""Evidence on request: a client sends a nonce in a header, the response carries signed evidence of
which code answered (`wasmhive.tee`).

    request:   wasmhive-attest-nonce: <1..64 bytes, hex>
    response:  wasmhive-attestation: <evidence token>      (or wasmhive-attestation-error: <why>)

The evidence binds the component's measurement, signer and sandbox description to the nonce, and its
user data is SHA-256 of "METHOD PATH?QUERY", so it cannot be moved to an answer to another request.
Only components granted `attestation = true` are wrapped; others never see this header handled.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..errors import AttestationError
from ..tee import TeeGuest
from ._types import Exchange

__all__ = ["ERROR_HEADER", "EVIDENCE_HEADER", "NONCE_HEADER", "AttestingExecutor", "attesting", "request_digest"]

NONCE_HEADER = "wasmhive-attest-nonce"
EVIDENCE_HEADER = "wasmhive-attestation"
ERROR_HEADER = "wasmhive-attestation-error"
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2}){1,64}$")


def request_digest(method: str, path_with_query: str) -> bytes:
    """The user data of header evidence: SHA-256 of "METHOD PATH?QUERY" (what a client recomputes)."""
    return hashlib.sha256(f"{method.upper()} {path_with_query}".encode()).digest()


class AttestingExecutor:
    """Wraps a route's executor: when the request carries a nonce, the response head gets evidence."""

    def __init__(self, executor: Any, guest: TeeGuest) -> None:
        self.inner = executor
        self.guest = guest
        self.name = getattr(executor, "name", "")

    def run(self, ex: Exchange) -> None:
        text = ex.request.header(NONCE_HEADER)
        if text is None:
            self.inner.run(ex)
            return
        header: tuple[str, bytes]
        if not _HEX.match(text.strip()):
            header = (ERROR_HEADER, b"the nonce must be 1..64 bytes in hex")
        else:
            req = ex.request
            try:
                token = self.guest.report(bytes.fromhex(text.strip()), request_digest(req.method, req.path_with_query))
                header = (EVIDENCE_HEADER, token.encode())
            except AttestationError as e:
                header = (ERROR_HEADER, str(e).encode("ascii", "replace"))
        respond = ex.respond

        def respond_with_evidence(status: int, headers: list[tuple[str, bytes]], body: Any = b"") -> bool:
            return respond(status, [*headers, header], body)

        ex.respond = respond_with_evidence  # type: ignore[method-assign]
        self.inner.run(ex)


def attesting(executor: Any, guest: TeeGuest | None) -> Any:
    """`executor` wrapped to attach evidence on request when `guest` was granted attestation, else itself."""
    return AttestingExecutor(executor, guest) if guest is not None and guest.attestation else executor
