"""`wasi:http/types` 0.2.x host functions: one small class per resource, its methods the resource's functions.

Each method names its WIT function (`@wit(...)`); `link_types` defines the resources with their host
type ids and every table with `define_table`. The objects they work on are in `_http_types.py`.
Values follow the component layer's value convention: a function returning `result` returns its ok value and raises
`ResultError(e)` for `err(e)` (`ResultError()` for a bare `err`); variants are `Variant`s; results nested
in another value (`future-*.get`) are `Ok`/`Err`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmtime.component import LinkerInstance

from ..component._hostcall import HostTrap, define_resource, define_table, wit
from ..component._values import Err, Ok, ResultError, Variant
from ._fields import Fields, HeaderError
from ._http_types import (
    FutureIncomingResponse,
    FutureTrailers,
    IncomingBody,
    IncomingResponse,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    RequestBodyChannel,
    RequestOptions,
    ResponseOutparam,
    error_code,
    method_variant,
)
from ._io import dropper, fn
from ._state import HostState, Res, current
from ._streams import BodyChannel, BodyStream, IoError, Pollable

__all__ = ["link_types"]


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


def _get(rep: int) -> Any:
    return current().table.get(rep)


def _add(obj: Any) -> int:
    return current().table.add(obj)


def _setter(attr: str, check: Callable[[Any], bool] = lambda v: True) -> Callable[[Any, int, Any], None]:
    """A `set-x` method: `result` ok after setting `attr`, err when `check` refuses the value."""
    def call(self: Any, rep: int, value: Any) -> None:
        if not check(value):
            raise ResultError()
        setattr(_get(rep), attr, value)
    return call


def _getter(attr: str) -> Callable[[Any, int], Any]:
    """A method returning attribute `attr` of the resource object."""
    def call(self: Any, rep: int) -> Any:
        return getattr(_get(rep), attr)
    return call


def _header_op(op: Callable[..., Any]) -> Callable[..., None]:
    def call(self: Any, rep: int, *args: Any) -> None:
        try:
            op(_get(rep), *args)
        except HeaderError as e:
            raise ResultError(Variant(e.code)) from None
    return call


def _headers_copy(self: Any, rep: int) -> int:
    return _add(_get(rep).headers.copy(mutable=False))


def _consume(self: Any, rep: int) -> int:
    obj = _get(rep)
    body, obj.body = obj.body, None
    if body is None:
        raise ResultError()  # already consumed
    return _add(body)


def _take_body(self: Any, rep: int) -> int:
    st = current()
    obj = st.table.get(rep)
    if obj.body_taken:
        raise ResultError()
    obj.body_taken = True
    if obj.body is None:
        obj.body = _new_body(st, obj)
    return st.table.add(obj.body)


def _stream_once(rep: int, make: Callable[[Any], Any]) -> int:
    """A body's stream: the first call gets it, later ones `err` (the WIT contract of `stream`/`write`)."""
    body = _get(rep)
    if body.stream_taken:
        raise ResultError()
    body.stream_taken = True
    return _add(make(body))


def _valid_method(v: Variant) -> bool:
    from ._fields import valid_name
    return v.tag != "other" or valid_name(str(v.value))


def _valid_pq(v: str | None) -> bool:
    return v is None or ((v.startswith("/") or v.startswith("*") or v == "") and " " not in v)


def _valid_authority(v: str | None) -> bool:
    return v is None or (" " not in v and "/" not in v and "@" not in v)


class _Errors:
    @wit("http-error-code")
    def http_error_code(self, rep: int) -> Any:
        err = _get(rep)
        code = getattr(err, "http_code", None)
        return code if isinstance(err, IoError) else None


class _FieldsApi:
    @wit("[constructor]fields")
    def new(self) -> int:
        return _add(Fields())

    @wit("[static]fields.from-list")
    def from_list(self, entries: list[tuple[str, bytes]]) -> int:
        try:
            return _add(Fields.checked(entries))
        except HeaderError as e:
            raise ResultError(Variant(e.code)) from None

    @wit("[method]fields.get")
    def get(self, rep: int, name: str) -> list[bytes]:
        return _get(rep).get(name)  # type: ignore[no-any-return]

    @wit("[method]fields.has")
    def has(self, rep: int, name: str) -> bool:
        return bool(_get(rep).has(name))

    @wit("[method]fields.entries")
    def entries(self, rep: int) -> list[tuple[str, bytes]]:
        return list(_get(rep).entries)

    @wit("[method]fields.clone")
    def clone(self, rep: int) -> int:
        return _add(_get(rep).copy(mutable=True))

    set = wit("[method]fields.set")(_header_op(Fields.set))
    delete = wit("[method]fields.delete")(_header_op(Fields.delete))
    append = wit("[method]fields.append")(_header_op(Fields.append))


class _IncomingRequestApi:
    @wit("[method]incoming-request.method")
    def method(self, rep: int) -> Variant:
        return method_variant(_get(rep).method)

    path_with_query = wit("[method]incoming-request.path-with-query")(_getter("path_with_query"))

    @wit("[method]incoming-request.scheme")
    def scheme(self, rep: int) -> Variant | None:
        s = _get(rep).scheme
        if s is None:
            return None
        return Variant(s.upper()) if s in ("http", "https") else Variant("other", s)

    authority = wit("[method]incoming-request.authority")(_getter("authority"))
    headers = wit("[method]incoming-request.headers")(_headers_copy)
    consume = wit("[method]incoming-request.consume")(_consume)


class _OutgoingRequestApi:
    @wit("[constructor]outgoing-request")
    def new(self, headers_rep: int) -> int:
        st = current()
        headers: Fields = st.table.pop(headers_rep)
        return st.table.add(OutgoingRequest(headers.copy(mutable=False)))

    method = wit("[method]outgoing-request.method")(_getter("method"))
    path_with_query = wit("[method]outgoing-request.path-with-query")(_getter("path_with_query"))
    scheme = wit("[method]outgoing-request.scheme")(_getter("scheme"))
    authority = wit("[method]outgoing-request.authority")(_getter("authority"))
    body = wit("[method]outgoing-request.body")(_take_body)
    headers = wit("[method]outgoing-request.headers")(_headers_copy)
    set_method = wit("[method]outgoing-request.set-method")(_setter("method", _valid_method))
    set_path_with_query = wit("[method]outgoing-request.set-path-with-query")(_setter("path_with_query", _valid_pq))
    set_scheme = wit("[method]outgoing-request.set-scheme")(_setter("scheme"))
    set_authority = wit("[method]outgoing-request.set-authority")(_setter("authority", _valid_authority))


class _RequestOptionsApi:
    @wit("[constructor]request-options")
    def new(self) -> int:
        return _add(RequestOptions())

    connect_timeout = wit("[method]request-options.connect-timeout")(_getter("connect_timeout"))
    first_byte_timeout = wit("[method]request-options.first-byte-timeout")(_getter("first_byte_timeout"))
    between_bytes_timeout = wit("[method]request-options.between-bytes-timeout")(_getter("between_bytes_timeout"))
    set_connect_timeout = wit("[method]request-options.set-connect-timeout")(_setter("connect_timeout"))
    set_first_byte_timeout = wit("[method]request-options.set-first-byte-timeout")(_setter("first_byte_timeout"))
    set_between_bytes_timeout = wit("[method]request-options.set-between-bytes-timeout")(
        _setter("between_bytes_timeout"))


class _ResponseOutparamApi:
    @wit("[static]response-outparam.set")
    def set(self, rep: int, response: Ok) -> None:
        st = current()
        param: ResponseOutparam = st.table.pop(rep)
        if param is None or param.used:
            raise HostTrap("response-outparam.set called twice")
        param.used = True
        if isinstance(response, Err):  # the guest answered with an `error-code`
            param.on_set(response.value)
        else:
            resp: OutgoingResponse = st.table.pop(response.value)
            param.on_set(resp)


class _IncomingResponseApi:
    status = wit("[method]incoming-response.status")(_getter("status"))
    headers = wit("[method]incoming-response.headers")(_headers_copy)
    consume = wit("[method]incoming-response.consume")(_consume)


class _IncomingBodyApi:
    @wit("[method]incoming-body.stream")
    def stream(self, rep: int) -> int | None:
        return _stream_once(rep, lambda body: body.stream)

    @wit("[static]incoming-body.finish")
    def finish(self, rep: int) -> int:
        st = current()
        body: IncomingBody = st.table.pop(rep)
        return st.table.add(FutureTrailers(body.trailers))


class FutureTrailersApi:
    @wit("[method]future-trailers.subscribe")
    def subscribe(self, rep: int) -> int:
        return _add(Pollable())

    @wit("[method]future-trailers.get")
    def get(self, rep: int) -> Ok:
        # option<result<result<option<own<trailers>>, error-code>>>: ready at once; `err` once taken
        ft: FutureTrailers = _get(rep)
        if ft.taken:
            return Err()
        ft.taken = True
        return Ok(Ok(_add(ft.trailers.copy(mutable=False)) if ft.trailers is not None else None))


class _OutgoingResponseApi:
    @wit("[constructor]outgoing-response")
    def new(self, headers_rep: int) -> int:
        st = current()
        headers: Fields = st.table.pop(headers_rep)
        # The body channel exists from the start: the trigger needs it as soon as the response is set.
        return st.table.add(OutgoingResponse(headers.copy(mutable=False), body=_new_body(st)))

    status_code = wit("[method]outgoing-response.status-code")(_getter("status"))
    set_status_code = wit("[method]outgoing-response.set-status-code")(_setter("status", lambda s: 100 <= s <= 999))
    headers = wit("[method]outgoing-response.headers")(_headers_copy)
    body = wit("[method]outgoing-response.body")(_take_body)


class _OutgoingBodyApi:
    @wit("[method]outgoing-body.write")
    def write(self, rep: int) -> int | None:
        return _stream_once(rep, lambda body: BodyStream(body.channel))

    @wit("[static]outgoing-body.finish")
    def finish(self, rep: int, trailers_rep: int | None) -> None:
        st = current()
        body: OutgoingBody = st.table.pop(rep)
        trailers = st.table.pop(trailers_rep) if trailers_rep is not None else None
        body.finished = True
        channel = body.channel
        if isinstance(channel, RequestBodyChannel) and channel.expected not in (None, channel.total):
            # Shorter than its content-length: the request fails (its outbound call sees an abort).
            channel.abort()
            raise ResultError(error_code("HTTP-request-body-size", channel.total))
        channel.finish(trailers)


class _FutureIncomingResponseApi:
    @wit("[method]future-incoming-response.subscribe")
    def subscribe(self, rep: int) -> int:
        fut: FutureIncomingResponse = _get(rep)
        return _add(Pollable(lambda: fut.value is not None))

    @wit("[method]future-incoming-response.get")
    def get(self, rep: int) -> Ok | None:
        # option<result<result<own<incoming-response>, error-code>>>: none until ready; `err` once taken
        fut: FutureIncomingResponse = _get(rep)
        if fut.value is None:
            return None
        if fut.taken:
            return Err()
        fut.taken = True
        value = fut.value
        return Ok(Ok(_add(value)) if isinstance(value, IncomingResponse) else Err(value))


# The interface as tables: each resource's host type id and the class holding its functions.
_RESOURCES = [("fields", Res.FIELDS, _FieldsApi), ("incoming-request", Res.INCOMING_REQUEST, _IncomingRequestApi),
              ("outgoing-request", Res.OUTGOING_REQUEST, _OutgoingRequestApi),
              ("request-options", Res.REQUEST_OPTIONS, _RequestOptionsApi),
              ("response-outparam", Res.RESPONSE_OUTPARAM, _ResponseOutparamApi),
              ("incoming-response", Res.INCOMING_RESPONSE, _IncomingResponseApi),
              ("incoming-body", Res.INCOMING_BODY, _IncomingBodyApi),
              ("future-trailers", Res.FUTURE_TRAILERS, FutureTrailersApi),
              ("outgoing-response", Res.OUTGOING_RESPONSE, _OutgoingResponseApi),
              ("outgoing-body", Res.OUTGOING_BODY, _OutgoingBodyApi),
              ("future-incoming-response", Res.FUTURE_INCOMING_RESPONSE, _FutureIncomingResponseApi)]


def link_types(inst: LinkerInstance) -> None:
    """Define every resource and function of `wasi:http/types` on `inst`."""
    for name, rid, _ in _RESOURCES:
        define_resource(inst, name, rid, dropper())
    define_table(inst, _Errors(), fn)
    for _, _, api in _RESOURCES:
        define_table(inst, api(), fn)
