"""`GuardedProtocol`: uvicorn's httptools HTTP/1.1 protocol with time and memory bounds per connection.

Stock uvicorn reads a request head with no deadline (a fresh connection that sends nothing, or a head
trickled a byte at a time, stays open for ever) and lets httptools accumulate a header line of any length
before the app sees it (a 64 MiB line was buffered whole before the app could answer 431). This subclass
adds, per connection:

- a head deadline: the request line and headers must arrive within `ServerLimits.header_timeout` seconds
  of the connection's first byte (or of its opening); else 408 and close. Absolute: trickling bytes does
  not extend it.
- a head size cap: httptools is never fed more than `max_header_bytes` + 8 KiB (the request line) of one
  head; past it the client gets 431 at once, and nothing more is read from it.
- a cap on open connections per client address (`max_connections_per_client`, per worker process): one
  past it gets 503 and is closed before anything is read.
- a request body still arriving when its response is complete (the app answered without reading it) is
  discarded, up to `_DRAIN` bytes within `body_timeout` seconds, and the connection kept; past either, the
  connection is closed (stock uvicorn would discard such a body for ever, with no timer running).
- closes with the client possibly still sending are clean: FIN after the response, then what the client
  still sends is read and dropped until it closes too (at most `_LINGER_TIME` seconds). A plain close with
  unread bytes in the socket makes the kernel send a reset, which can destroy the response before the
  client has read it ("Connection reset by peer").

A response head is held back until the first write after it (`_CycleTransport`), so head and body go out
in one socket write (one `send` with the GIL held instead of two, one segment for the client); a head not
followed by a write in the same turn of the loop (a HEAD response, a stream whose first bytes are late)
goes out when the response completes, before anything else is written or closed, or on the next turn.

Idle keep-alive connections are closed after uvicorn's `timeout_keep_alive` (5 s in `wasmhive up`) with a
FIN; a client that sends its next request at that very moment sees the connection closed, as with any
HTTP/1.1 server (httpx's own idle expiry is also 5 s, so it does not reuse one that old).

Bodies are bounded by the ASGI app (`HttpApp` knows when it is waiting for the client). The limits are
those of the `HttpApp` being served, found through ASGI wrappers' `.app`; other apps get the defaults.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._app import ServerLimits

__all__ = ["GuardedProtocol", "limits_of"]

log = logging.getLogger("wasmhive.http")

_REQUEST_LINE = 8 * 1024  # allowed on top of `max_header_bytes` for the request line
_LINGER = 1.0  # seconds a refused connection stays open (not read) so the client can read the refusal
_DRAIN = 256 * 1024  # unread request body bytes discarded after the response to keep the connection
_LINGER_TIME = 5.0  # at most this long, a closing connection reads and drops what the client still sends
_JOIN = 16 * 1024  # a body up to this size is copied behind its head (one buffer); a longer one is not
# Open connections per client address, per server (uvicorn's `ServerState` is one per server).
_per_client: weakref.WeakKeyDictionary[Any, Counter[str]] = weakref.WeakKeyDictionary()
_last_warning = [0.0]


def limits_of(app: Any) -> ServerLimits:
    """The `ServerLimits` of the `HttpApp` inside `app` (through wrappers' `.app`), or the defaults."""
    for _ in range(8):
        limits = getattr(app, "limits", None)
        if isinstance(limits, ServerLimits):
            return limits
        app = getattr(app, "app", None)
        if app is None:
            break
    return ServerLimits()


def _reply(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a head size cap and a per-address connection cap.

    Use it as uvicorn's `http=` class (`wasmhive up` does, with every worker).
    """

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = limits_of(self.app)
        self._head_timeout = limits.header_timeout
        self._max_head = limits.max_header_bytes + _REQUEST_LINE
        self._max_per_client = limits.max_connections_per_client
        self._in_head = True  # the next bytes belong to a request head
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_since: float | None = None  # loop time of a begun head's first byte, until it ends
        self._refused = False
        self._counted: str | None = None  # the address this connection is counted under
        self._drain_timeout = limits.body_timeout
        self._draining = False  # discarding the body of a request already answered
        self._drained = 0
        self._drain_timer: asyncio.TimerHandle | None = None
        self._lingering = False  # FIN sent; dropping what the client still sends until it closes
        self._head: bytes | None = None  # a response head held for the write after it

    # -- connection life cycle -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        host = self.client[0] if self.client else None
        if host is not None and self._max_per_client:
            counts = _per_client.setdefault(self.server_state, Counter())
            if counts[host] >= self._max_per_client:
                _warn(f"{host}: over {self._max_per_client} open connections; refusing more (503)")
                self._refused = True
                transport.write(_reply(503, "Service Unavailable", "too many connections from your address\n"))
                transport.close()  # at once: lingering here would let a flood hold file descriptors
                return
            counts[host] += 1
            self._counted = host
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head = None
        self._cancel_head_timer()
        self._end_drain()
        if self._counted is not None:
            counts = _per_client.get(self.server_state)
            if counts is not None:
                counts[self._counted] -= 1
                if counts[self._counted] <= 0:
                    del counts[self._counted]
            self._counted = None
        super().connection_lost(exc)

    # -- reading ------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused or self._lingering:
            return
        if self._head is not None:
            self._flush_head()  # parsing may answer at once (a 400): the held head goes first
        if self._draining:
            # The rest of an answered request's body: uvicorn's parser drops it (and may find the next
            # request after it); bounded in bytes here, in time by the drain timer.
            self._drained += len(data)
            super().data_received(data)
            if self._draining and self._drained > _DRAIN:
                self._close_cleanly()
        else:
            self._feed(data)
        if self._head_since is not None and self._head_timer is None and self._head_timeout and \
                not self._refused and not self._lingering:
            # A head begun in this read and not finished in it: its deadline counts from its first byte.
            self._head_timer = self.loop.call_at(self._head_since + self._head_timeout, self._head_deadline)

    def _feed(self, data: bytes) -> None:
        while data and not self._refused and not self.transport.is_closing():
            if not self._in_head:
                super().data_received(data)
                return
            room = self._max_head - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                super().data_received(data)
                return
            # More than the head may hold: feed what fits; the head must end inside it.
            self._head_bytes += room
            super().data_received(data[:room])
            if self._in_head:
                self._refuse(431, "Request Header Fields Too Large", "request header fields too large\n")
                return
            data = data[room:]

    # -- parser callbacks ---------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A request has begun: the connection is not idle (the idle timer may have been armed earlier in
        # the same read, when a discarded body ended right before this request).
        self._unset_keepalive_if_required()
        self._in_head = True
        # The head deadline is armed only if the head does not end in this read (`data_received`): most
        # heads arrive whole, and a timer per request would cost more than the rest of this callback.
        self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._head_since = None
        self._cancel_head_timer()
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before:
            # The cycle closes the connection itself after a `connection: close` answer (408, 413...).
            self.cycle.transport = _CycleTransport(self, self.cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0
        if self._draining:
            # The answered request's body is gone: the connection is idle, under uvicorn's keep-alive timer.
            self._end_drain()
            if not self.transport.is_closing() and not self.pipeline and self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                    self.timeout_keep_alive_handler)

    def on_response_complete(self) -> None:
        # `self.cycle` is the request parsed last, which need not be the one just answered: a client that
        # has the whole response (its content-length) sends its next request before the app's final
        # (empty) body message marks it complete, and uvicorn queues that request as pipelined. Only
        # when the answered request is the last one parsed can its body still be arriving.
        self._flush_head()  # a response without body bytes (HEAD, 204, 304): its head is due now
        cycle = self.cycle
        answered_last = cycle is not None and cycle.response_complete
        if self._lingering:  # the answer said `connection: close`: no further request is served
            self.server_state.total_requests += 1
            return
        super().on_response_complete()
        if answered_last and cycle.more_body and not self.transport.is_closing():
            self._start_drain()

    # -- unread bodies and clean closes -------------------------------------------------------------------
    def _start_drain(self) -> None:
        self._unset_keepalive_if_required()  # the drain timer bounds the wait now
        self._draining = True
        self._drained = 0
        self._drain_timer = self.loop.call_later(self._drain_timeout, self._close_cleanly)

    def _end_drain(self) -> None:
        self._draining = False
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def _close_cleanly(self) -> None:
        """Close after what was written: FIN first, then drop what the client still sends until it closes
        (or `_LINGER_TIME` passes), so the close is never a reset that could destroy the response."""
        self._end_drain()
        self._flush_head()
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        self._unset_keepalive_if_required()
        self._cancel_head_timer()
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()  # sent once the response bytes are out
        self.loop.call_later(_LINGER_TIME, self.transport.close)

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()  # both sides are done: nothing unread, so a clean close
        super().eof_received()

    def shutdown(self) -> None:
        self._flush_head()
        super().shutdown()

    # -- one write per response ---------------------------------------------------------------------------
    def _hold_head(self, head: bytes) -> None:
        self._flush_head()
        self._head = head
        self.loop.call_soon(self._flush_head)  # at the latest on the loop's next turn

    def _flush_head(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self.transport.is_closing():
            self.transport.write(head)

    def _write(self, data: bytes) -> None:
        head, self._head = self._head, None
        if head is None:
            self.transport.write(data)
        elif len(data) <= _JOIN:
            self.transport.write(head + data)
        else:
            self.transport.writelines((head, data))

    # -- deadlines and refusals ---------------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self._head_timeout:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_deadline)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_bytes:
            self._refuse(408, "Request Timeout", "request head not received in time\n")
        else:
            self.transport.close()  # a fresh connection that sent nothing: nothing to answer

    def _refuse(self, status: int, reason: str, text: str) -> None:
        """Answer `status`, read nothing more, close after a moment (so the client can read the answer)."""
        self._refused = True
        self._cancel_head_timer()
        self.flow.pause_reading()
        if self.cycle is not None and not self.cycle.response_complete:
            # The previous request on this connection is still being answered: close after it.
            self.cycle.keep_alive = False
            return
        self.transport.write(_reply(status, reason, text))
        self.loop.call_later(_LINGER, self.transport.close)


class _CycleTransport:
    """The transport as one request's uvicorn cycle sees it: the response head (the first write once the
    response has started; a `100 Continue` comes before) is held for the write after it, and closing it
    while that request's body is still arriving is a clean close (`GuardedProtocol._close_cleanly`), not a
    reset."""

    def __init__(self, protocol: GuardedProtocol, cycle: Any) -> None:
        self._protocol = protocol
        self._cycle = cycle
        self._before_head = True
        transport = protocol.transport
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info

    def write(self, data: bytes) -> None:
        if self._before_head and self._cycle.response_started:
            self._before_head = False
            self._protocol._hold_head(data)
        else:
            self._protocol._write(data)

    def close(self) -> None:
        self._protocol._flush_head()
        if self._cycle.more_body:
            self._protocol._close_cleanly()
        else:
            self._protocol.transport.close()


def _warn(message: str) -> None:
    # A flood would otherwise write a log line per refused connection.
    now = time.monotonic()
    if now - _last_warning[0] >= 10.0:
        _last_warning[0] = now
        log.warning("%s", message)
