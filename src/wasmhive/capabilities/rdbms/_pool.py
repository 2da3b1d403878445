"""Idle database connections kept per app and per address, reused by the next request."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Pool"]


class Pool:
    """At most `max_idle` idle connections per key; `close` is how a connection is closed."""

    def __init__(self, close: Callable[[Any], None], max_idle: int = 8) -> None:
        self._close = close
        self._max_idle = max_idle
        self._idle: dict[Any, list[Any]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def take(self, key: Any) -> Any | None:
        """An idle connection for `key` (most recently used first), or None."""
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give(self, key: Any, conn: Any) -> None:
        """Return a healthy connection for reuse (closed instead when the pool is full or closed)."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append(conn)
                return
        self.discard(conn)

    def discard(self, conn: Any) -> None:
        """Close a connection that must not be reused."""
        with contextlib.suppress(Exception):
            self._close(conn)

    def close(self) -> None:
        """Close every idle connection; later returns are closed too."""
        with self._lock:
            self._closed = True
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            self.discard(c)
