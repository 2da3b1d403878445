"""`Handoff`: how a request's guest thread wakes its task on the event loop.

A wake-up from another thread is a `call_soon_threadsafe`: a self-pipe write, an epoll return and a GIL
hand-off. The head, each body flush and the executor's end all notify; while one wake-up is pending the
others share it, and the task looks at the state after each wake-up, so nothing is missed.

Not done here, measured instead (issue 12, tiny guest, wrk -c16 on the shared 2-core box): the loop blocking
a moment (GIL released) for a guest to complete, instead of a wake-up. It lost 30-40 % of requests/s
whenever other requests were in flight (the loop idles while guests could overlap it, and the guest's
teardown after its answer then contends with the loop for the GIL); gated on "the only request in flight"
it still fired for up to a third of requests at -c16 (a loop-bound server admits one request at a time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Handoff"]


class Handoff:
    """Wake-ups from one request's guest thread (any thread) to its task on the event loop.

    `notify()` (any thread) marks a change; the task awaits `changed()` and looks at the state after it
    returns, so a change made before the task looks is never missed, and changes made while a wake-up is
    already pending share it (one `call_soon_threadsafe` at a time). `finish()` (the guest thread, when the
    executor is done) runs `on_finished` on the loop once, even while the task waits on something else.
    """

    __slots__ = ("_future", "_loop", "_on_finished", "_pending", "_set", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_finished: Callable[[], None]) -> None:
        self._loop = loop
        self._on_finished: Callable[[], None] | None = on_finished
        self._pending = False  # a `_fire` is scheduled
        self._set = False  # something changed since `changed()` last returned
        self._future: asyncio.Future[None] | None = None  # what `changed()` awaits
        self.done = False  # the executor has returned

    # -- any thread ------------------------------------------------------------------------------------
    def notify(self) -> None:
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
