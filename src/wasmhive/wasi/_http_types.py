"""`wasi:http/types` 0.2.x: requests, responses, bodies, fields, futures, as host objects and functions.

The host objects; their functions, one small class per resource, are in `_http_host.py`.
The trigger builds an `IncomingRequest` and a `ResponseOutparam` per request; the guest answers through
`response-outparam.set`, which hands the `OutgoingResponse` to the outparam's `on_set` callback while the
guest keeps running (so bodies stream). Outbound requests go through `_outgoing.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..component._values import Variant
from ._fields import Fields
from ._state import HostState
from ._streams import BodyChannel, InputStream, IoError

__all__ = [
    "FutureIncomingResponse",
    "FutureTrailers",
    "IncomingBody",
    "IncomingRequest",
    "IncomingResponse",
    "OutgoingBody",
    "OutgoingRequest",
    "OutgoingResponse",
    "RequestBodyChannel",
    "RequestOptions",
    "ResponseOutparam",
    "body_size_error",
    "error_code",
    "method_variant",
]

_METHODS = {"GET": "get", "HEAD": "head", "POST": "post", "PUT": "put", "DELETE": "delete",
            "CONNECT": "connect", "OPTIONS": "options", "TRACE": "trace", "PATCH": "patch"}
_METHOD_NAMES = {v: k for k, v in _METHODS.items()}


def method_variant(method: str) -> Variant:
    """The `wasi:http/types.method` of an HTTP method name: `Variant("get")`, `Variant("other", "PURGE")`."""
    tag = _METHODS.get(method.upper())
    return Variant(tag) if tag else Variant("other", method)


def method_name(v: Variant) -> str:
    """The HTTP method name of a `method` variant (`method_variant`'s inverse)."""
    return str(v.value) if v.tag == "other" else _METHOD_NAMES[v.tag]


def error_code(name: str, payload: Any = None) -> Variant:
    """A `wasi:http/types.error-code` value (`error_code("internal-error", "why")`; no payload: none/no value)."""
    return Variant(name, payload)


@dataclass
class IncomingBody:
    """A body arriving from outside (the client's request body, or an outbound call's response body)."""

    stream: InputStream
    trailers: Fields | None = None
    stream_taken: bool = False

    def close(self) -> None:
        if not self.stream_taken:
            self.stream.close()


@dataclass
class IncomingRequest:
    method: str
    path_with_query: str | None
    scheme: str | None
    authority: str | None
    headers: Fields
    body: IncomingBody | None


@dataclass
class OutgoingBody:
    channel: BodyChannel
    stream_taken: bool = False
    finished: bool = False

    def close(self) -> None:
        # Dropped without `finish`: the body is incomplete, and the receiver must know.
        if not self.finished:
            self.channel.abort()


@dataclass
class OutgoingResponse:
    headers: Fields
    status: int = 200
    body: OutgoingBody | None = None
    body_taken: bool = False


@dataclass
class ResponseOutparam:
    """Where the guest's answer goes: `on_set(response_or_error)` runs on the guest's thread."""

    on_set: Callable[[OutgoingResponse | Variant], None]
    used: bool = False


@dataclass
class OutgoingRequest:
    headers: Fields
    method: Variant = field(default_factory=lambda: Variant("get"))
    path_with_query: str | None = None
    scheme: Variant | None = None
    authority: str | None = None
    body: OutgoingBody | None = None
    body_taken: bool = False


@dataclass
class RequestOptions:
    connect_timeout: int | None = None
    first_byte_timeout: int | None = None
    between_bytes_timeout: int | None = None


@dataclass
class IncomingResponse:
    status: int
    headers: Fields
    body: IncomingBody | None  # None once consumed

    def close(self) -> None:
        # Dropped without consuming its body: nobody will read it (the outbound call stops).
        if self.body is not None:
            self.body.close()


class FutureIncomingResponse:
    """Completed by the outbound client's thread with an `IncomingResponse` or an error-code Variant."""

    def __init__(self, st: HostState) -> None:
        self.waker = st.waker
        self.value: IncomingResponse | Variant | None = None
        self.taken = False
        self.cancel: Callable[[], None] | None = None

    def complete(self, value: IncomingResponse | Variant) -> None:
        self.value = value
        self.waker.wake()

    def close(self) -> None:
        # Dropped before its value was taken: the call is abandoned. Once the guest holds the response,
        # its body belongs to the `incoming-body` (dropping that stream stops the transfer), not to us.
        if self.cancel is not None and not self.taken:
            self.cancel()


class RequestBodyChannel(BodyChannel):
    """An outbound request's body: capped at the app's body limit and at the content-length the guest
    declared (`expected`), as the WIT asks: a write past it fails, and so does a `finish` short of it."""

    def __init__(self, waker: Any, *, limit: int | None, expected: int | None) -> None:
        super().__init__(waker, limit=limit)
        self.expected = expected

    def write(self, data: bytes) -> None:
        if self.expected is not None and self.total + len(data) > self.expected:
            self.abort()
            raise body_size_error(self.total + len(data), f"body longer than its content-length ({self.expected})")
        super().write(data)


def body_size_error(size: int, message: str) -> IoError:
    """A stream error whose `http-error-code` is `HTTP-request-body-size(size)`."""
    err = IoError(message)
    err.http_code = error_code("HTTP-request-body-size", size)  # type: ignore[attr-defined]
    return err


@dataclass
class FutureTrailers:
    trailers: Fields | None
    taken: bool = False
