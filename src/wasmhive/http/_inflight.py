"""Requests in flight in each worker, readable by the autoscaling supervisor for the price of one `pread`.

Each worker keeps one 32-byte file, `<dir>/<pid>`, mapped into its memory: how many requests it holds now
(admitted, queued for a guest thread or running) and the running integral of that count over time, in
request-seconds. The integral is to requests what CPU time is to a process: the supervisor takes the
difference between two samples and divides by the time between them, and gets the average number of
requests in flight over the interval (Little's law), however short the requests were. An instantaneous
count, sampled every half second, would miss a burst between two samples.

Only the worker's event loop writes (one thread), the supervisor only reads: a sequence number, odd
while a write is under way, lets the reader retry instead of using a half-written record. Shared memory
needs no metrics library (`--metrics` is optional) and costs the request path two `pack_into`s.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

__all__ = ["LOAD_DIR_ENV", "InFlight", "request_seconds"]

LOAD_DIR_ENV = "WASMHIVE_LOAD_DIR"  # set by `_ops.run` for the workers it autoscales
_RECORD = struct.Struct("<Qqdd")  # sequence, requests in flight, request-seconds until `since`, since
_SEQ = struct.Struct("<Q")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class InFlight:
    """ASGI layer counting this worker's HTTP requests in flight into `<directory>/<pid>`."""

    def __init__(self, app: Any, directory: str) -> None:
        self.app = app
        path = Path(directory) / str(os.getpid())
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, _RECORD.size)
            self._map = mmap.mmap(fd, _RECORD.size)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._seq, self._count, self._area, self._since = 0, 0, 0.0, time.monotonic()
        self._write()

    def _write(self) -> None:
        _RECORD.pack_into(self._map, 0, self._seq, self._count, self._area, self._since)

    def _change(self, delta: int) -> None:
        now = time.monotonic()
        self._seq += 1  # odd: a reader seeing this retries
        _SEQ.pack_into(self._map, 0, self._seq)
        self._area += self._count * (now - self._since)
        self._count += delta
        self._since = now
        self._seq += 1
        self._write()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._change(1)
        try:
            await self.app(scope, receive, send)
        finally:
            self._change(-1)


def request_seconds(directory: str, pid: int) -> float | None:
    """The request-seconds worker `pid` has held so far (up to now), or None when it has not reported."""
    try:
        fd = os.open(os.path.join(directory, str(pid)), os.O_RDONLY)
    except OSError:
        return None
    try:
        for _ in range(100):
            data = os.pread(fd, _RECORD.size, 0)
            if len(data) < _RECORD.size:
                return None
            seq, count, area, since = _RECORD.unpack(data)
            if seq % 2 == 0 and os.pread(fd, 8, 0) == data[:8]:
                # Clock: CLOCK_MONOTONIC is system-wide on Linux, so the worker's `since` is comparable.
                return float(area + count * max(0.0, time.monotonic() - since))
        return None  # never caught between writes: skip this sample
    finally:
        os.close(fd)
