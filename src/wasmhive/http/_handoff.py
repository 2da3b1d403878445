"""How a request's guest thread wakes its task on the event loop (`Handoff`), and the loop's quick wait.

A wake-up from another thread is a `call_soon_threadsafe`: a self-pipe write, an epoll return and a GIL
hand-off, at least once per request (more when the head, the body and the guest's end come apart). A
small guest answers in well under a millisecond, so for it the event loop does better to block for a
moment, with the GIL released, until the response is complete (`Handoff.wait_briefly`, at most
`QUICK_WAIT`): the guest thread gets the GIL at once, and the loop carries on without a round trip
through its selector. A guest that does not finish in that time makes its executor skip quick waits for
its next `SKIP_AFTER_SLOW` requests (`QuickWaits`), so a slow guest stalls the loop for `QUICK_WAIT` at
most once per that many of its requests, and never stalls requests to other executors.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["QUICK_WAIT", "SKIP_AFTER_SLOW", "Handoff", "QuickWaits"]

QUICK_WAIT = 0.002  # seconds the loop blocks for a guest to complete its response
SKIP_AFTER_SLOW = 64  # requests to an executor that go without a quick wait after one did not complete in it


class Handoff:
    """Wake-ups from one request's guest thread (any thread) to its task on the event loop.

    `notify()` (any thread) marks a change; the task awaits `changed()` and looks at the state after it
    returns, so a change made before the task looks is never missed, and changes made while a wake-up is
    already pending share it (one `call_soon_threadsafe` at a time). `finish()` (the guest thread, when the
    executor is done) runs `on_finished` on the loop once, even while the task waits on something else.
    """

    __slots__ = ("_future", "_loop", "_on_finished", "_pending", "_quick", "_set", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_finished: Callable[[], None]) -> None:
        self._loop = loop
        self._on_finished: Callable[[], None] | None = on_finished
        self._pending = False  # a `_fire` is scheduled
        self._set = False  # something changed since `changed()` last returned
        self._future: asyncio.Future[None] | None = None  # what `changed()` awaits
        self._quick: queue.SimpleQueue[None] | None = None  # while the loop thread blocks in `wait_briefly`
        self.done = False  # the executor has returned

    # -- any thread ------------------------------------------------------------------------------------
    def notify(self) -> None:
        quick = self._quick
        if quick is not None:
            # The loop thread is blocked in `wait_briefly`. If it stops waiting just now, this signal is
            # lost, but the change made before it is not: the loop looks at the state after it stops.
            quick.put(None)
            return
        if not self._pending:
            self._pending = True
            self._loop.call_soon_threadsafe(self._fire)

    def finish(self) -> None:
        """The executor returned (called on its thread)."""
        self.done = True
        self.notify()

    # -- the event loop --------------------------------------------------------------------------------
    def _fire(self) -> None:
        self._pending = False
        self.wake()

    def wake(self) -> None:
        """Mark a change (on the loop: also what a timer calls)."""
        self._set = True
        if self.done and self._on_finished is not None:
            on_finished, self._on_finished = self._on_finished, None
            on_finished()
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def changed(self) -> None:
        """Return after the next change (at once if one happened since the last return)."""
        if not self._set:
            self._future = self._loop.create_future()
            try:
                await self._future
            finally:
                self._future = None
        self._set = False

    async def finished(self) -> None:
        """Return once the executor has returned and `on_finished` has run."""
        while self._on_finished is not None:
            if self.done:
                self.wake()
                return
            await self.changed()

    def wait_briefly(self, ready: Callable[[], bool], seconds: float = QUICK_WAIT) -> bool:
        """Block the loop thread (GIL released) until `ready()`, at most `seconds`; return `ready()`.

        Only for work known to finish quickly and not to need this loop meanwhile (a guest with its whole
        request body): nothing else on the loop runs while it waits.
        """
        if ready():
            return True
        signals: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._quick = signals
        try:
            end = time.monotonic() + seconds
            while not ready():
                left = end - time.monotonic()
                if left <= 0:
                    break
                try:
                    signals.get(timeout=left)
                except queue.Empty:
                    break
        finally:
            self._quick = None
        if self.done:
            self.wake()  # the executor's `finish` came during the wait, without a wake-up
        return ready()


class QuickWaits:
    """Which executors' requests get a quick wait: all, except for `SKIP_AFTER_SLOW` requests after one of
    theirs did not complete within it. Counts are per executor (by identity) and approximate under races
    (any thread may record; a lost update only shortens or lengthens a pause)."""

    def __init__(self) -> None:
        self._skip: dict[int, int] = {}
        self._lock = threading.Lock()

    def allowed(self, executor: Any) -> bool:
        key = id(executor)
        left = self._skip.get(key)
        if not left:
            return True
        with self._lock:
            left = self._skip.get(key, 0)
            if left <= 1:
                self._skip.pop(key, None)
            else:
                self._skip[key] = left - 1
        return False

    def slow(self, executor: Any) -> None:
        with self._lock:
            self._skip[id(executor)] = SKIP_AFTER_SLOW

