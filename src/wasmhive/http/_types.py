"""The HTTP trigger's seam: requests, responses, and the `Exchange` an executor serves.

An executor (`wasi:http` components, WAGI modules, static responses) implements `Executor.run(exchange)`:
it runs on a worker thread, reads the request body from `exchange.body`, and answers with
`exchange.respond(...)` once; the body streams through the `BodyChannel` it passes (or is given whole).
The server side (ASGI or the socket-free `HttpApp.handle`) waits on the exchange.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..wasi import BodyChannel, BufferInput, Waker
from ..wasi._streams import InputStream

__all__ = ["Exchange", "Executor", "Request", "Response", "field_bytes"]


Headers = list[tuple[bytes, bytes]]


def field_bytes(text: str) -> bytes:
    """`text` as header field bytes: latin-1 (the inverse of the `Request.headers` view), or UTF-8 for
    text latin-1 cannot hold (a caller's own str), rather than failing."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


class Request:
    """An HTTP request as the trigger sees it. `path` is the raw path (percent-encoded), without query.

    `raw_headers` are the header fields as they arrived: (lower-case name, value) byte pairs, in order,
    duplicates kept. `headers` is the same as str pairs (latin-1, as HTTP defines field bytes; computed
    on first use, so a request nobody reads as text never decodes them). Passing `headers` (str pairs)
    instead of `raw_headers` is the convenience form: names are lower-cased, values encoded latin-1.
    """

    __slots__ = ("_headers", "authority", "body", "client", "http_version", "method", "path", "query",
                 "raw_headers", "scheme")

    def __init__(self, method: str = "GET", path: str = "/", query: str = "",
                 headers: Iterable[tuple[str, str]] | None = None, body: bytes = b"", scheme: str = "http",
                 authority: str = "127.0.0.1:3000", client: str = "127.0.0.1:0", http_version: str = "1.1", *,
                 raw_headers: Headers | None = None) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.scheme = scheme
        self.authority = authority
        self.client = client
        self.http_version = http_version
        if raw_headers is None:
            raw_headers = [(field_bytes(k.lower()), field_bytes(v)) for k, v in headers or ()]
        elif headers is not None:
            raise TypeError("give headers or raw_headers, not both")
        self.raw_headers = raw_headers
        self._headers: list[tuple[str, str]] | None = None

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The header fields as str pairs (latin-1 decoded; never fails). Read-only: edit `raw_headers`."""
        if self._headers is None:
            self._headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw_headers]
        return self._headers

    @property
    def path_with_query(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def raw_header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower-case bytes), or None."""
        return next((v for k, v in self.raw_headers if k == name), None)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case) as text, or None."""
        value = self.raw_header(name.lower().encode("latin-1"))
        return value.decode("latin-1") if value is not None else None

    def replace(self, **changes: Any) -> Request:
        """A copy with the given attributes changed (`raw_headers=` for new header fields)."""
        fields = {name: getattr(self, name) for name in self.__slots__ if not name.startswith("_")}
        if "headers" in changes:
            del fields["raw_headers"]
        fields.update(changes)
        return Request(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__ if not n.startswith("_"))

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return (f"Request(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
                f"headers={self.headers!r}, body={self.body!r}, scheme={self.scheme!r}, "
                f"authority={self.authority!r}, client={self.client!r}, http_version={self.http_version!r})")


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
