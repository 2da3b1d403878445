"""The public names of `wasmhive.contracts` are exactly the intended ones, and all importable."""

from __future__ import annotations

import wasmhive.contracts as contracts

INTENDED = {
    "ANONYMOUS", "CandidError", "Canister", "ContractError", "ContractLimits", "ContractReject", "ContractVM", "Entry", "Identity",
    "Principal", "Reply", "Service", "VerifyReport", "asgi_app", "build_motoko", "decode", "decode_reply", "encode",
    "encode_args", "format_args", "idl_hash", "mount_contracts", "parse_args", "parse_did", "reply_json",
    "reply_text", "verify",
}


def test_exported_names() -> None:
    assert set(contracts.__all__) == INTENDED
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None
