"""The HTTP trigger's seam: requests, responses, and the `Exchange` an executor serves.

An executor (`wasi:http` components, WAGI modules, static responses) implements `Executor.run(exchange)`:
it runs on a worker thread, reads the request body from `exchange.body`, and answers with
`exchange.respond(...)` once; the body streams through the `BodyChannel` it passes (or is given whole).
The server side (ASGI or the socket-free `HttpApp.handle`) waits on the exchange.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..wasi import BodyChannel, BufferInput, Waker
from ..wasi._streams import InputStream

__all__ = ["Exchange", "Executor", "Request", "Response"]


@dataclass
class Request:
    """An HTTP request as the trigger sees it. `path` is the raw path (percent-encoded), without query."""

    method: str = "GET"
    path: str = "/"
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    scheme: str = "http"
    authority: str = "127.0.0.1:3000"
    client: str = "127.0.0.1:0"
    http_version: str = "1.1"

    @property
    def path_with_query(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)


@dataclass
class Response:
    """A complete response (what the socket-free `HttpApp.handle` returns)."""

    status: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> bytes | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Exchange:
    """One request in flight between the server (any thread) and an executor (a worker thread)."""

    def __init__(self, request: Request, body: InputStream | None = None, *, waker: Waker | None = None,
                 route: str = "", component: str = "", match: Any = None) -> None:
        self.request = request
        self.waker = waker or Waker()
        self.body: InputStream = body if body is not None else BufferInput(request.body)
        self.route = route
        # The trigger's `RouteMatch` for this request (routed once; executors read it, never route again).
        self.match = match
        self.component = component
        self.status: int | None = None
        self.headers: list[tuple[str, bytes]] = []
        self.channel: BodyChannel | None = None
        self.notify: Callable[[], None] | None = None  # called (any thread) on head and body progress
        self.failure: str | None = None  # why the executor failed, for the log
        self.trace: Any = None  # cluster: the app's `_tracing.Tracing` when traced (child spans)
        self.calls: Any = None  # cluster: `_observe.RequestHooks` (capability calls) when traced or metered
        self._lock = threading.Lock()

    @property
    def responded(self) -> bool:
        return self.status is not None

    def respond(self, status: int, headers: list[tuple[str, bytes]], body: BodyChannel | bytes = b"") -> bool:
        """Set the response head (once) and its body: a channel that streams, or bytes. False if too late."""
        with self._lock:
            if self.status is not None:
                return False
            if isinstance(body, (bytes, bytearray)):
                channel = BodyChannel(self.waker, high_water=1 << 62)
                if body:
                    channel.write(bytes(body))
                channel.finish()
            else:
                channel = body
            self.channel = channel
            self.headers = headers
            self.status = status
        channel.notify = self.notify
        if self.notify is not None:
            self.notify()
        return True


class Executor(Protocol):
    """Serves exchanges for one route target. `run` blocks (worker thread) and never raises."""

    name: str

    def run(self, exchange: Exchange) -> None: ...
