"""The host side of one message: the call being served, the calls it makes, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._principal import Principal

__all__ = ["Call", "CallContext", "MessageContext"]


@dataclass
class CallContext:
    """An incoming call being served: who to answer and whether it has been answered."""

    caller: bytes
    origin: Any  # ("ingress", request) or ("call", Call) for inter-canister calls
    cycles: int = 0
    replied: bool = False
    outstanding: int = 0
    deleted: bool = False


@dataclass
class Call:
    """An outgoing call built with `call_new` ... `call_perform`."""

    caller: Principal
    callee: bytes
    method: str
    reply: tuple[int, int]
    reject: tuple[int, int]
    data: bytearray = field(default_factory=bytearray)
    cycles: int = 0
    cleanup: tuple[int, int] | None = None
    context: CallContext | None = None
    reserved: int = 0  # cycles held back for the response (see RESPONSE_RESERVE)


@dataclass
class MessageContext:
    """The host side of one executing message."""

    kind: str
    method: str = ""
    arg: bytes = b""
    caller: bytes = b"\x04"
    time: int = 0
    call_ctx: CallContext | None = None
    reject_code: int = 0
    reject_msg: str = ""
    refunded: int = 0
    reply_buf: bytearray = field(default_factory=bytearray)
    reply: bytes | None = None
    rejected: tuple[int, str] | None = None
    pending: Call | None = None
    calls: list[Call] = field(default_factory=list)
    trap: str | None = None
    logs: list[str] = field(default_factory=list)
    fuel_limit: int = 0
    accepted: int = 0
    accepted_message: bool = False
    replicated: bool = True  # False inside a composite query: nothing is charged or kept
