"""Host objects behind `wasi:io`: pollables, input and output streams, I/O errors.

These are plain Python objects; `_io.py` exposes them to guests. Producers and consumers on other threads
(the event loop feeding a request body, a response body being sent) wake a blocked guest through the
instance's `Waker`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = [
    "BodyChannel",
    "BodyStream",
    "BufferInput",
    "ChannelInput",
    "IoError",
    "NullOutput",
    "OutputStream",
    "Pollable",
    "SinkOutput",
    "StreamClosed",
    "Waker",
]


class StreamClosed(Exception):
    """The stream is closed (end of input, or the reader went away)."""


class IoError(Exception):
    """A failed stream operation; the guest sees a `wasi:io/error` with this message."""


class Waker:
    """One per instance: anything that may make a pollable ready calls `wake()`; `wait` blocks until then."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._gen = 0

    def generation(self) -> int:
        return self._gen

    def wake(self) -> None:
        with self._cond:
            self._gen += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float | None) -> None:
        """Sleep until woken after generation `seen`, or `timeout` seconds."""
        with self._cond:
            if self._gen == seen:
                self._cond.wait(timeout)


class Pollable:
    """Ready when `check()` says so, or (timers) once `time.monotonic()` reaches `when`."""

    __slots__ = ("check", "when")

    def __init__(self, check: Callable[[], bool] | None = None, when: float | None = None) -> None:
        self.check = check
        self.when = when

    def ready(self) -> bool:
        if self.when is not None and time.monotonic() >= self.when:
            return True
        return self.check() if self.check is not None else self.when is None


ALWAYS_READY = Pollable()


class InputStream:
    """Base input stream: `read(n)` returns up to n bytes, b"" if none yet; raises StreamClosed/IoError."""

    def read(self, n: int) -> bytes:
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether `read` would return data or raise (not b"")."""
        return True

    def wait_ready(self, waker: Waker, remaining: Callable[[], float | None]) -> None:
        """Block until `ready()`; `remaining()` bounds each wait and raises past the deadline."""
        while True:
            seen = waker.generation()
            if self.ready():
                return
            waker.wait(seen, remaining())

    def close(self) -> None:
        pass


class BufferInput(InputStream):
    """A stream over bytes already in memory (stdin, small bodies)."""

    def __init__(self, data: bytes = b"") -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, n: int) -> bytes:
        if self._pos >= len(self._data):
            raise StreamClosed
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return bytes(chunk)


class ChannelInput(InputStream):
    """A stream fed by another thread: `feed(chunk)`, then `end()` or `fail(message)`.

    `demand` (if given) is called when a reader finds the buffer empty: the producer delivers the next
    chunk only then, so a slow guest holds back a fast client (backpressure). `on_close` (if given) is
    called when the reader closes the stream, so the producer can stop.
    """

    def __init__(self, waker: Waker, demand: Callable[[], None] | None = None, *,
                 on_close: Callable[[], None] | None = None) -> None:
        self._waker = waker
        self._on_close = on_close
        self._chunks: deque[bytes] = deque()
        self._ended = False
        self._error: str | None = None
        self._demand = demand
        self._asked = False
        self._lock = threading.Lock()

    # producer side
    def feed(self, chunk: bytes) -> None:
        with self._lock:
            if chunk:
                self._chunks.append(chunk)
            self._asked = False
        self._waker.wake()

    def end(self) -> None:
        with self._lock:
            self._ended = True
        self._waker.wake()

    def fail(self, message: str) -> None:
        with self._lock:
            self._error = message
            self._ended = True
        self._waker.wake()

    # consumer side
    def ready(self) -> bool:
        with self._lock:
            if self._chunks or self._ended:
                return True
            ask = self._demand is not None and not self._asked
            self._asked = self._asked or ask
        if ask:
            self._demand()  # type: ignore[misc]
        return False

    def read(self, n: int) -> bytes:
        with self._lock:
            if self._chunks:
                chunk = self._chunks.popleft()
                if len(chunk) > n:
                    self._chunks.appendleft(chunk[n:])
                    chunk = chunk[:n]
                return chunk
            if self._ended:
                if self._error is not None:
                    raise IoError(self._error)
                raise StreamClosed
        self.ready()  # asks the producer for more
        return b""

    def buffered(self) -> int:
        return sum(map(len, self._chunks))

    @property
    def closed(self) -> bool:
        return self._ended

    def close(self) -> None:
        with self._lock:
            self._chunks.clear()
            self._ended = True
        if self._on_close is not None:
            self._on_close()


class OutputStream:
    """Base output stream. `capacity()` is what `check-write` reports; `write` must not exceed it."""

    def capacity(self) -> int:
        return 1 << 20

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def wait_capacity(self, waker: Waker, remaining: Callable[[], float | None]) -> int:
        """Block until `capacity() > 0` (or the stream fails/closes, which raises); return it."""
        while True:
            seen = waker.generation()
            cap = self.capacity()
            if cap > 0:
                return cap
            waker.wait(seen, remaining())

    def close(self) -> None:
        pass


class SinkOutput(OutputStream):
    """Every write goes to `sink(bytes)` at once (stdout/stderr capture)."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink

    def write(self, data: bytes) -> None:
        self._sink(data)


class NullOutput(OutputStream):
    """Accepts and discards everything."""

    def write(self, data: bytes) -> None:
        pass


class BodyChannel:
    """Body bytes from a guest to a consumer on another thread, bounded by `high_water` (backpressure).

    The guest side writes (buffered until `flush` or `chunk` bytes), then `finish`es or `abort`s. The
    consumer takes flushed chunks with `take()` and is told about new data by `notify()`. When the
    consumer goes away (`cancel()`), further writes fail with `StreamClosed`.
    """

    def __init__(self, waker: Waker, *, high_water: int = 1 << 20, chunk: int = 1 << 16,
                 limit: int | None = None) -> None:
        self.waker = waker
        self.high_water = high_water
        self.chunk = chunk
        self.limit = limit
        self.notify: Callable[[], None] | None = None
        self._pending = bytearray()
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self.total = 0
        self.state = "open"  # open | finished | aborted | cancelled
        self.trailers: object = None
        self._lock = threading.Lock()

    # -- producer (guest thread) --------------------------------------------------------------------
    def capacity(self) -> int:
        if self.state == "cancelled":
            raise StreamClosed
        if self.state != "open":
            raise StreamClosed
        return max(0, self.high_water - self._queued - len(self._pending))

    def write(self, data: bytes) -> None:
        if self.state != "open":
            raise StreamClosed
        self.total += len(data)
        if self.limit is not None and self.total > self.limit:
            raise IoError(f"body larger than the {self.limit}-byte limit")
        self._pending += data
        if len(self._pending) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        with self._lock:
            data = bytes(self._pending)
            self._pending.clear()
            self._queue.append(data)
            self._queued += len(data)
        if self.notify is not None:
            self.notify()

    def finish(self, trailers: object = None) -> None:
        self.flush()
        with self._lock:
            if self.state == "open":
                self.state = "finished"
                self.trailers = trailers
        if self.notify is not None:
            self.notify()

    def abort(self) -> None:
        with self._lock:
            if self.state == "open":
                self.state = "aborted"
        if self.notify is not None:
            self.notify()

    # -- consumer (any thread) ----------------------------------------------------------------------
    def take(self) -> tuple[list[bytes], str]:
        """The flushed chunks not yet taken, and the state after them."""
        with self._lock:
            chunks = list(self._queue)
            self._queue.clear()
            self._queued = 0
            state = self.state
        if chunks:
            self.waker.wake()
        return chunks, state

    def cancel(self) -> None:
        with self._lock:
            if self.state == "open":
                self.state = "cancelled"
            self._queue.clear()
            self._queued = 0
        self.waker.wake()


class BodyStream(OutputStream):
    """The `output-stream` child of an `outgoing-body`."""

    def __init__(self, channel: BodyChannel) -> None:
        self.channel = channel

    def capacity(self) -> int:
        return self.channel.capacity()

    def write(self, data: bytes) -> None:
        self.channel.write(data)

    def flush(self) -> None:
        self.channel.flush()

    def close(self) -> None:
        self.channel.flush()
