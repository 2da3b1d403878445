"""What a request gets through before a guest runs it, so that slow clients cost no one else anything.

- `BodyClock`: the deadline for reading a request body. Only time spent waiting on the client counts,
  and the budget grows with the bytes received (a second per `min_body_rate` bytes, as Apache's
  `mod_reqtimeout` does), so a trickle cannot restart it and a steady upload is never cut off.
- `Slots`: the few guest threads that may run a request whose body is still arriving (such a guest
  blocks in its reads at the client's pace), so slow uploads never hold every guest thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyClock", "Slots", "TooSlow"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


class TooSlow(Exception):
    """The client did not send its body fast enough."""


class Slots:
    """A counting semaphore for tasks on any event loop (an `HttpApp` is built before its loop runs, and
    may be driven from several loops over its life). Slots are handed over first come, first served."""

    def __init__(self, n: int) -> None:
        self._free = n
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._lock = threading.Lock()

    async def take(self, timeout: float) -> bool:
        """Take a slot, waiting at most `timeout` seconds; False if none came free."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            with self._lock:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                    return False
            return True  # handed over just as the wait ended: it is ours
        except BaseException:
            with self._lock:
                mine = fut not in self._waiters
                if not mine:
                    self._waiters.remove(fut)
            if mine:
                self.give()
            raise

    def give(self) -> None:
        """Return a slot: to the longest waiter, or to the pool."""
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            fut = self._waiters.popleft()  # the slot is the waiter's from here on
        with contextlib.suppress(RuntimeError):  # its loop is closed: the server is going away
            fut.get_loop().call_soon_threadsafe(_grant, fut)


def _grant(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class BodyClock:
    """How long the server may still wait on a client for its request body.

    The budget is `timeout` seconds plus one per `rate` bytes received (`ServerLimits.body_timeout` and
    `min_body_rate`), and only time spent waiting on the client counts (not time the guest takes between
    reads): a trickle of a byte now and then does not restart it, a steady upload earns what it needs.
    """

    def __init__(self, timeout: float, rate: int) -> None:
        self.timeout = timeout
        self.rate = rate
        self.waited = 0.0
        self.received = 0

    async def receive(self, receive: Receive) -> Message:
        """The next ASGI message from `receive`, waited for no longer than the budget left (`TooSlow`)."""
        left = self.timeout + (self.received / self.rate if self.rate > 0 else 0.0) - self.waited
        if left <= 0:
            raise TooSlow
        t0 = time.monotonic()
        try:
            msg = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            raise TooSlow from None
        finally:
            self.waited += time.monotonic() - t0
        self.received += len(msg.get("body", b""))
        return msg
