"""`wasi:http/types` 0.2.x: requests, responses, bodies, fields, futures, as host objects and functions.

The trigger builds an `IncomingRequest` and a `ResponseOutparam` per request; the guest answers through
`response-outparam.set`, which hands the `OutgoingResponse` to the outparam's `on_set` callback while the
guest keeps running (so bodies stream). Outbound requests go through `_outgoing.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wasmtime.component import LinkerInstance, Variant

from ..component._hostcall import HostTrap, define_resource
from ._fields import Fields, HeaderError
from ._io import dropper, fn
from ._state import HostState, Res, current
from ._streams import BodyChannel, BodyStream, InputStream, IoError, Pollable

__all__ = [
    "FutureIncomingResponse",
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
    "link_types",
    "method_variant",
]

OK, ERR = Variant("ok"), Variant("err")
_METHODS = {"GET": "get", "HEAD": "head", "POST": "post", "PUT": "put", "DELETE": "delete",
            "CONNECT": "connect", "OPTIONS": "options", "TRACE": "trace", "PATCH": "patch"}
_METHOD_NAMES = {v: k for k, v in _METHODS.items()}


def method_variant(method: str) -> Variant:
    tag = _METHODS.get(method.upper())
    return Variant(tag) if tag else Variant("other", method)


def method_name(v: Variant) -> str:
    return str(v.payload) if v.tag == "other" else _METHOD_NAMES[v.tag]


def error_code(name: str, payload: Any = None) -> Variant:
    """A `wasi:http/types.error-code` value (`error_code("internal-error", "why")`)."""
    return Variant(name, payload) if payload is not None or name in _PAYLOAD_CASES else Variant(name)


_PAYLOAD_CASES = {"internal-error", "DNS-error", "TLS-alert-received", "HTTP-request-body-size",
                  "HTTP-request-header-section-size", "HTTP-request-header-size",
                  "HTTP-request-trailer-section-size", "HTTP-request-trailer-size",
                  "HTTP-response-header-section-size", "HTTP-response-header-size",
                  "HTTP-response-body-size", "HTTP-response-trailer-section-size",
                  "HTTP-response-trailer-size", "HTTP-response-transfer-coding",
                  "HTTP-response-content-coding"}


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
    body: IncomingBody | None


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
        if self.cancel is not None:
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


def _declared_length(headers: Fields) -> int | None:
    values = headers.get("content-length")
    if len(values) != 1 or not values[0].strip().isdigit():
        return None  # absent or unusable: the host frames the body itself
    return int(values[0])


def _new_body(st: HostState, request: OutgoingRequest | None = None) -> OutgoingBody:
    """A body channel; an outbound request's is capped at the app's body limit and its content-length."""
    if request is None:
        return OutgoingBody(BodyChannel(st.waker))
    limit = st.http.body_limit if st.http is not None else None
    return OutgoingBody(RequestBodyChannel(st.waker, limit=limit, expected=_declared_length(request.headers)))


def link_types(inst: LinkerInstance) -> None:
    """Define every resource and function of `wasi:http/types` on `inst`."""
    for name, rid in [("fields", Res.FIELDS), ("incoming-request", Res.INCOMING_REQUEST),
                      ("outgoing-request", Res.OUTGOING_REQUEST), ("request-options", Res.REQUEST_OPTIONS),
                      ("response-outparam", Res.RESPONSE_OUTPARAM), ("incoming-response", Res.INCOMING_RESPONSE),
                      ("incoming-body", Res.INCOMING_BODY), ("future-trailers", Res.FUTURE_TRAILERS),
                      ("outgoing-response", Res.OUTGOING_RESPONSE), ("outgoing-body", Res.OUTGOING_BODY),
                      ("future-incoming-response", Res.FUTURE_INCOMING_RESPONSE)]:
        define_resource(inst, name, rid, dropper())

    def get(rep: int) -> Any:
        return current().table.get(rep)

    def add(obj: Any) -> int:
        return current().table.add(obj)

    def http_error_code(rep: int) -> Any:
        err = get(rep)
        code = getattr(err, "http_code", None)
        return code if isinstance(err, IoError) else None

    fn(inst, "http-error-code", http_error_code)

    # -- fields ---------------------------------------------------------------------------------------
    def header_op(op: Callable[..., Any]) -> Callable[..., Any]:
        def call(rep: int, *args: Any) -> Any:
            try:
                op(get(rep), *args)
            except HeaderError as e:
                return Variant(e.code)
            return None
        return call

    def from_list(entries: list[tuple[str, bytes]]) -> Any:
        try:
            return add(Fields.checked(entries))
        except HeaderError as e:
            return Variant(e.code)

    fn(inst, "[constructor]fields", lambda: add(Fields()))
    fn(inst, "[static]fields.from-list", from_list)
    fn(inst, "[method]fields.get", lambda rep, name: get(rep).get(name))
    fn(inst, "[method]fields.has", lambda rep, name: get(rep).has(name))
    fn(inst, "[method]fields.set", header_op(Fields.set))
    fn(inst, "[method]fields.delete", header_op(Fields.delete))
    fn(inst, "[method]fields.append", header_op(Fields.append))
    fn(inst, "[method]fields.entries", lambda rep: list(get(rep).entries))
    fn(inst, "[method]fields.clone", lambda rep: add(get(rep).copy(mutable=True)))

    # -- incoming-request -----------------------------------------------------------------------------
    def scheme_variant(s: str | None) -> Variant | None:
        if s is None:
            return None
        return Variant(s.upper()) if s in ("http", "https") else Variant("other", s)

    def consume(rep: int) -> int | None:
        obj = get(rep)
        body, obj.body = obj.body, None
        return add(body) if body is not None else None

    fn(inst, "[method]incoming-request.method", lambda rep: method_variant(get(rep).method))
    fn(inst, "[method]incoming-request.path-with-query", lambda rep: get(rep).path_with_query)
    fn(inst, "[method]incoming-request.scheme", lambda rep: scheme_variant(get(rep).scheme))
    fn(inst, "[method]incoming-request.authority", lambda rep: get(rep).authority)
    fn(inst, "[method]incoming-request.headers", lambda rep: add(get(rep).headers.copy(mutable=False)))
    fn(inst, "[method]incoming-request.consume", consume)

    # -- outgoing-request -----------------------------------------------------------------------------
    def new_request(headers_rep: int) -> int:
        st = current()
        headers: Fields = st.table.pop(headers_rep)
        return st.table.add(OutgoingRequest(headers.copy(mutable=False)))

    def take_body(rep: int) -> int | None:
        st = current()
        obj = st.table.get(rep)
        if obj.body_taken:
            return None
        obj.body_taken = True
        if obj.body is None:
            obj.body = _new_body(st, obj)
        return st.table.add(obj.body)

    def setter(attr: str, check: Callable[[Any], bool] = lambda v: True) -> Callable[[int, Any], Variant]:
        def call(rep: int, value: Any) -> Variant:
            if not check(value):
                return ERR
            setattr(get(rep), attr, value)
            return OK
        return call

    def valid_method(v: Variant) -> bool:
        from ._fields import valid_name
        return v.tag != "other" or valid_name(str(v.payload))

    def valid_pq(v: str | None) -> bool:
        return v is None or ((v.startswith("/") or v.startswith("*") or v == "") and " " not in v)

    def valid_authority(v: str | None) -> bool:
        return v is None or (" " not in v and "/" not in v and "@" not in v)

    fn(inst, "[constructor]outgoing-request", new_request)
    fn(inst, "[method]outgoing-request.body", take_body)
    fn(inst, "[method]outgoing-request.method", lambda rep: get(rep).method)
    fn(inst, "[method]outgoing-request.set-method", setter("method", valid_method))
    fn(inst, "[method]outgoing-request.path-with-query", lambda rep: get(rep).path_with_query)
    fn(inst, "[method]outgoing-request.set-path-with-query", setter("path_with_query", valid_pq))
    fn(inst, "[method]outgoing-request.scheme", lambda rep: get(rep).scheme)
    fn(inst, "[method]outgoing-request.set-scheme", setter("scheme"))
    fn(inst, "[method]outgoing-request.authority", lambda rep: get(rep).authority)
    fn(inst, "[method]outgoing-request.set-authority", setter("authority", valid_authority))
    fn(inst, "[method]outgoing-request.headers", lambda rep: add(get(rep).headers.copy(mutable=False)))

    # -- request-options ------------------------------------------------------------------------------
    fn(inst, "[constructor]request-options", lambda: add(RequestOptions()))
    for opt in ("connect-timeout", "first-byte-timeout", "between-bytes-timeout"):
        attr = opt.replace("-", "_")
        fn(inst, f"[method]request-options.{opt}", lambda rep, a=attr: getattr(get(rep), a))
        fn(inst, f"[method]request-options.set-{opt}", setter(attr))

    # -- response-outparam ----------------------------------------------------------------------------
    def outparam_set(rep: int, response: Any) -> None:
        st = current()
        param: ResponseOutparam = st.table.pop(rep)
        if param is None or param.used:
            raise HostTrap("response-outparam.set called twice")
        param.used = True
        if isinstance(response, int):
            resp: OutgoingResponse = st.table.pop(response)
            param.on_set(resp)
        else:
            param.on_set(response)

    fn(inst, "[static]response-outparam.set", outparam_set)

    # -- incoming-response ----------------------------------------------------------------------------
    fn(inst, "[method]incoming-response.status", lambda rep: get(rep).status)
    fn(inst, "[method]incoming-response.headers", lambda rep: add(get(rep).headers.copy(mutable=False)))
    fn(inst, "[method]incoming-response.consume", consume)

    # -- incoming-body / future-trailers --------------------------------------------------------------
    def body_stream(rep: int) -> int | None:
        body: IncomingBody = get(rep)
        if body.stream_taken:
            return None
        body.stream_taken = True
        return add(body.stream)

    def body_finish(rep: int) -> int:
        st = current()
        body: IncomingBody = st.table.pop(rep)
        return st.table.add(_FutureTrailers(body.trailers))

    fn(inst, "[method]incoming-body.stream", body_stream)
    fn(inst, "[static]incoming-body.finish", body_finish)
    fn(inst, "[method]future-trailers.subscribe", lambda rep: add(Pollable()))

    def trailers_get(rep: int) -> Any:
        ft: _FutureTrailers = get(rep)
        if ft.taken:
            return ERR
        ft.taken = True
        return Variant("ok", add(ft.trailers.copy(mutable=False)) if ft.trailers is not None else None)

    fn(inst, "[method]future-trailers.get", trailers_get)

    # -- outgoing-response ----------------------------------------------------------------------------
    def new_response(headers_rep: int) -> int:
        st = current()
        headers: Fields = st.table.pop(headers_rep)
        # The body channel exists from the start: the trigger needs it as soon as the response is set.
        return st.table.add(OutgoingResponse(headers.copy(mutable=False), body=_new_body(st)))

    fn(inst, "[constructor]outgoing-response", new_response)
    fn(inst, "[method]outgoing-response.status-code", lambda rep: get(rep).status)
    fn(inst, "[method]outgoing-response.set-status-code", setter("status", lambda s: 100 <= s <= 999))
    fn(inst, "[method]outgoing-response.headers", lambda rep: add(get(rep).headers.copy(mutable=False)))
    fn(inst, "[method]outgoing-response.body", take_body)

    # -- outgoing-body --------------------------------------------------------------------------------
    def body_write(rep: int) -> int | None:
        body: OutgoingBody = get(rep)
        if body.stream_taken:
            return None
        body.stream_taken = True
        return add(BodyStream(body.channel))

    def outgoing_finish(rep: int, trailers_rep: int | None) -> Any:
        st = current()
        body: OutgoingBody = st.table.pop(rep)
        trailers = st.table.pop(trailers_rep) if trailers_rep is not None else None
        body.finished = True
        channel = body.channel
        if isinstance(channel, RequestBodyChannel) and channel.expected not in (None, channel.total):
            # Shorter than its content-length: the request fails (its outbound call sees an abort).
            channel.abort()
            return error_code("HTTP-request-body-size", channel.total)
        channel.finish(trailers)
        return None

    fn(inst, "[method]outgoing-body.write", body_write)
    fn(inst, "[static]outgoing-body.finish", outgoing_finish)

    # -- future-incoming-response ---------------------------------------------------------------------
    def fir_subscribe(rep: int) -> int:
        fut: FutureIncomingResponse = get(rep)
        return add(Pollable(lambda: fut.value is not None))

    def fir_get(rep: int) -> Any:
        fut: FutureIncomingResponse = get(rep)
        if fut.value is None:
            return Variant("none")
        if fut.taken:
            return Variant("some", None)  # result::err: already taken
        fut.taken = True
        value = fut.value
        return Variant("some", add(value) if isinstance(value, IncomingResponse) else value)

    fn(inst, "[method]future-incoming-response.subscribe", fir_subscribe)
    fn(inst, "[method]future-incoming-response.get", fir_get)


@dataclass
class _FutureTrailers:
    trailers: Fields | None
    taken: bool = False
