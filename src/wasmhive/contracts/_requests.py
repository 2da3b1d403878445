"""Signed ingress requests already executed: their ids, expiries and first replies, in bounded memory.

A signed update can be sent again until its expiry (a client's retry, or someone replaying it); the VM
runs it once and answers every later copy from here. The log keeps the same records durably (the
`requests` table); this is the in-memory side. Bounded: at most `capacity` ids (after dropping the
expired), and at most `REPLY_BYTES` of reply data kept in total; past that, a reply is remembered as
"already executed" without its data.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

from ._types import CANISTER_REJECT, Reply

__all__ = ["REPLY_BYTES", "RequestLog"]

REPLY_BYTES = 64 * 1024 * 1024


class RequestLog:
    """Request id -> (expiry in ns since the epoch, first reply) until the expiry passes."""

    def __init__(self, capacity: int, clock: Callable[[], int] = time.time_ns) -> None:
        self.capacity = capacity
        self._clock = clock
        self._replies: dict[bytes, tuple[int, Reply]] = {}
        self._expiries: list[tuple[int, bytes]] = []  # a heap, earliest expiry first
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, request_id: bytes) -> Reply | None:
        """The first reply to `request_id` if it ran and has not expired."""
        hit = self._replies.get(request_id)
        return hit[1] if hit is not None and hit[0] >= self._clock() else None

    def full(self) -> bool:
        """Whether no new id can be remembered now (after forgetting the expired ones)."""
        self._prune()
        return len(self._replies) >= self.capacity

    def remember(self, request_id: bytes, expiry: int, reply: Reply) -> None:
        """Answer `request_id` with `reply` until `expiry`."""
        self._prune()
        if expiry < self._clock():
            return
        if self._bytes + len(reply.data) > REPLY_BYTES:
            reply = Reply("rejected", reject_code=CANISTER_REJECT, height=reply.height, reject_message=(
                f"this signed request was already executed (log height {reply.height}); its reply is not kept "
                "for duplicates"))
        old = self._replies.get(request_id)
        if old is not None:
            self._bytes -= len(old[1].data)
        self._replies[request_id] = (expiry, reply)
        self._bytes += len(reply.data)
        heapq.heappush(self._expiries, (expiry, request_id))

    def _prune(self) -> None:
        now = self._clock()
        while self._expiries and self._expiries[0][0] < now:
            _, rid = heapq.heappop(self._expiries)
            hit = self._replies.get(rid)
            if hit is not None and hit[0] < now:
                del self._replies[rid]
                self._bytes -= len(hit[1].data)
