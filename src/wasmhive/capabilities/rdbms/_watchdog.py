"""Ends database calls at the request deadline.

A guest blocked in a host call is not interrupted by epochs, and a server-side limit such as
PostgreSQL's `statement_timeout` can be changed by the guest itself (`SET statement_timeout = 0`). So
every statement runs under a guard: if it is still running at the deadline, one watchdog thread per
app cancels it from outside (PostgreSQL's cancel request; for MySQL the socket is shut down and the
query killed), and the host call returns at once.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["Watchdog"]

log = logging.getLogger("wasmhive.capabilities.rdbms")


class _Guard:
    __slots__ = ("active", "cancel", "fired", "lock")

    def __init__(self, cancel: Callable[[], None]) -> None:
        self.cancel = cancel
        self.active = True
        self.fired = False
        self.lock = threading.Lock()


class Watchdog:
    """One thread that runs each guarded call's `cancel` when the call outlives its deadline."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, _Guard]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def guard(self, deadline: float | None, cancel: Callable[[], None]) -> Iterator[_Guard]:
        """Run the body; if it is still running at `deadline` (a `time.monotonic()` value), call `cancel`
        from the watchdog thread. `guard.fired` tells the body's caller that it was cancelled."""
        g = _Guard(cancel)
        if deadline is not None:
            with self._cv:
                if self._closed:
                    raise RuntimeError("the app is closing")
                heapq.heappush(self._heap, (deadline, next(self._seq), g))
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="wasmhive-rdbms-watchdog", daemon=True)
                    self._thread.start()
                self._cv.notify()
        try:
            yield g
        finally:
            with g.lock:
                g.active = False

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cv.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                if self._closed:
                    return
                _, _, g = heapq.heappop(self._heap)
            with g.lock:
                if not g.active:
                    continue
                g.fired = True
                try:
                    g.cancel()
                except Exception as e:  # a cancel that fails leaves the call to its own timeouts
                    log.warning("cancelling a database call at its deadline failed: %s", e)

    def close(self) -> None:
        """Stop the thread (guards still pending are not cancelled)."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
