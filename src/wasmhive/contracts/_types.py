"""Shared names of the contract VM: errors, replies, log entries, fees and limits, reject codes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..errors import ConfigError, WasmhiveError

__all__ = ["BASE_FEE", "BYTE_FEE", "CALL_FEE", "CANISTER_ERROR", "CANISTER_REJECT", "DEFAULT_CYCLES",
           "DESTINATION_INVALID", "INSPECT_INSTRUCTIONS", "MAX_RESPONSE_BYTES", "MAX_UPDATE_INSTRUCTIONS",
           "RESPONSE_RESERVE", "SYS_FATAL", "SYS_TRANSIENT", "ContractError", "ContractLimits", "ContractReject",
           "Entry", "Reply", "execution_fee"]

# Fees of an IC application subnet (13 nodes), so a canister's cycles run out where they would on the IC.
BASE_FEE = 590_000  # cycles charged per executed message (update, callback, timer, install, upgrade)
CALL_FEE = 260_000  # per inter-canister call made
BYTE_FEE = 1_000  # per byte of a call's method name and argument, and of a response
DEFAULT_CYCLES = 1_000_000_000_000
MAX_UPDATE_INSTRUCTIONS = 40_000_000_000
INSPECT_INSTRUCTIONS = 200_000_000  # canister_inspect_message (the IC's limit)
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


def execution_fee(instructions: int) -> int:
    """Cycles for one message that ran `instructions`: the base fee plus 4 cycles per 10 instructions."""
    return BASE_FEE + instructions * 4 // 10


# Reserved by every call until its response has run (the IC's prepayment for the response): the largest
# response's transmission and the most expensive callback. It is what makes a call storm end fast:
# a canister can have only balance / RESPONSE_RESERVE calls in flight.
RESPONSE_RESERVE = MAX_RESPONSE_BYTES * BYTE_FEE + execution_fee(MAX_UPDATE_INSTRUCTIONS)
# Reject codes of the IC interface specification.
SYS_FATAL, SYS_TRANSIENT, DESTINATION_INVALID, CANISTER_REJECT, CANISTER_ERROR = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class ContractLimits:
    """What one contract VM accepts; every limit has a clear error when hit.

    `max_module_size` (bytes of a canister module), `max_canisters` (per VM), `max_heap` and
    `max_stable` (bytes of Wasm memory and stable memory per canister), `max_total_memory` (heap and
    stable memory of all canisters together: a message that would pass it traps), `query_instructions` (per query
    message: a looping query ends here), `max_outstanding_calls` (calls of one canister waiting for
    their response), `max_messages_per_root` (messages one ingress message may cause, the calls it makes
    and theirs; the rest are dropped and the ingress rejected) and `max_ingress_expiry` (seconds: how far
    ahead a signed request's expiry may be; its request id is remembered until then) and
    `max_signed_requests` (ids remembered at once: past it, new signed updates are refused until some expire).
    """

    max_module_size: int = 32 * 1024 * 1024
    max_canisters: int = 100
    max_heap: int = 1 << 30
    max_stable: int = 1 << 30
    max_total_memory: int = 2 << 30
    query_instructions: int = 500_000_000
    max_outstanding_calls: int = 500
    max_messages_per_root: int = 5_000
    max_ingress_expiry: float = 360.0
    max_signed_requests: int = 100_000

    def __post_init__(self) -> None:
        for name in ("max_module_size", "max_canisters", "max_heap", "max_stable", "max_total_memory",
                     "query_instructions",
                     "max_outstanding_calls", "max_messages_per_root", "max_signed_requests"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"contract limit {name} must be positive")
        if self.max_heap > 1 << 32:
            raise ConfigError("contract limit max_heap is at most 4 GiB")
        if not 0 < self.max_ingress_expiry <= 86_400:
            raise ConfigError("contract limit max_ingress_expiry must be in (0, 86400] seconds")


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
