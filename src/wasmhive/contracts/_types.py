"""Shared names of the contract VM: errors, replies, log entries, fees and limits, reject codes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..errors import WasmhiveError

__all__ = ["BASE_FEE", "CANISTER_ERROR", "CANISTER_REJECT", "DEFAULT_CYCLES", "DESTINATION_INVALID",
           "INSTRUCTIONS_PER_CYCLE", "MAX_QUERY_INSTRUCTIONS", "MAX_UPDATE_INSTRUCTIONS", "SYS_FATAL",
           "SYS_TRANSIENT", "ContractError", "ContractReject", "Entry", "Reply"]

BASE_FEE = 10_000  # cycles charged per executed message (update, callback, timer, install, upgrade)
INSTRUCTIONS_PER_CYCLE = 10  # the rest of the fee: one cycle per 10 instructions
DEFAULT_CYCLES = 1_000_000_000_000
MAX_UPDATE_INSTRUCTIONS = 40_000_000_000
MAX_QUERY_INSTRUCTIONS = 5_000_000_000
# Reject codes of the IC interface specification.
SYS_FATAL, SYS_TRANSIENT, DESTINATION_INVALID, CANISTER_REJECT, CANISTER_ERROR = 1, 2, 3, 4, 5


class ContractError(WasmhiveError):
    """A contract operation failed (unknown canister, refused install or upgrade, ...)."""

    exit_code = 1


class ContractReject(ContractError):
    """A call was rejected (by the canister, or because it trapped): `code` is the IC reject code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"rejected (code {code}): {message}")
        self.code = code
        self.reject_message = message


@dataclass
class Reply:
    """The outcome of an update or query: a reply, or a reject with code and message."""

    status: str
    data: bytes = b""
    reject_code: int = 0
    reject_message: str = ""
    instructions: int = 0
    height: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "replied"


@dataclass
class Entry:
    """One committed log entry (one executed message)."""

    height: int
    kind: str
    root: bool
    canister: str
    method: str
    caller: bytes
    arg: bytes
    reply_hash: bytes
    state_hash: bytes
    time: int
    instructions: int
    prev_hash: bytes = b""
    hash: bytes = b""
    arg_h: bytes = b""  # set when loaded from the log (internal messages keep only the hash)

    def arg_hash(self) -> bytes:
        if not self.arg_h:
            self.arg_h = hashlib.sha256(self.arg).digest()
        return self.arg_h

    def digest(self, prev: bytes) -> bytes:
        h = hashlib.sha256()
        h.update(prev)
        for text in (str(self.height), self.kind, "1" if self.root else "0", self.canister, self.method,
                     str(self.time), str(self.instructions)):
            h.update(text.encode() + b"\0")
        for part in (self.caller, self.arg_hash(), self.reply_hash, self.state_hash):
            h.update(len(part).to_bytes(4, "big") + part)
        return h.digest()

    def same_outcome(self, other: Entry) -> bool:
        return (self.kind, self.canister, self.method, self.caller, self.arg_hash(), self.reply_hash,
                self.state_hash, self.instructions) == (other.kind, other.canister, other.method, other.caller,
                                                         other.arg_hash(), other.reply_hash, other.state_hash,
                                                         other.instructions)


class _Holder:
    reply: Reply | None = None
