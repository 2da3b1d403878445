"""The contract VM: run Internet Computer canisters (Motoko, C, WAT) locally, durably and deterministically.

>>> from wasmhive.contracts import ContractVM, build_motoko
>>> wasm, did = build_motoko("Counter.mo")
>>> with ContractVM(".wasmhive") as vm:
...     vm.deploy(wasm, name="counter")
...     vm.call("counter", "inc")          # Candid text in, Candid text out: '(1 : nat)'
"""

from ._asgi import mount_contracts
from ._candid import CandidError, decode, encode, idl_hash
from ._candid_text import Service, format_args, parse_args, parse_did
from ._canister import Canister
from ._client import decode_reply, encode_args, reply_json, reply_text
from ._motoko import build_motoko
from ._principal import ANONYMOUS, Identity, Principal
from ._types import ContractLimits
from ._verify import VerifyReport, verify
from ._vm import ContractError, ContractReject, ContractVM, Entry, Reply

__all__ = [
    "ANONYMOUS",
    "CandidError",
    "Canister",
    "ContractError",
    "ContractLimits",
    "ContractReject",
    "ContractVM",
    "Entry",
    "Identity",
    "Principal",
    "Reply",
    "Service",
    "VerifyReport",
    "asgi_app",
    "build_motoko",
    "decode",
    "decode_reply",
    "encode",
    "encode_args",
    "format_args",
    "idl_hash",
    "mount_contracts",
    "parse_args",
    "parse_did",
    "reply_json",
    "reply_text",
    "verify",
]


def asgi_app(state_dir: str = ".wasmhive", **options: object) -> object:
    """The DApp HTTP JSON API as an ASGI app (see `wasmhive.contracts._asgi`)."""
    from ._asgi import ContractsApp

    return ContractsApp(state_dir, **options)  # type: ignore[arg-type]
