"""A wasi:http/proxy guest (componentize-py) sending one outbound request whose body is written in the
order the query asks for: every order the wasi:http 0.2 WIT allows, and the wrong ones.

`GET /?url=U&order=O[&length=N][&drop_future=1]` sends `POST U` with body b"0123456789" (in two halves
where it is written in chunks; `length` declares a content-length header) and answers with lines: the
outcome of each step the guest took ("finish: ok", "write: err HTTP-request-body-size(15)"...), then
"status: S" and the response body, or "error: CODE". With `drop_future`, the future-incoming-response
is dropped as soon as the response is taken from it, before its body is read (as spin-sdk does).

Orders:
  before       body written and finished before `handle`
  after        body written before `handle`, finished after it
  chunks       `handle` first, then each half written and flushed 300 ms apart, then finished
  empty        `handle`, then the body finished without a write (what spin-sdk does for a GET)
  nobody       the request's body never taken (a GET)
  drop         `handle`, half the body written, then the body dropped without finish
  drop-before  half the body written, the body dropped without finish, then `handle`
"""

from urllib.parse import parse_qs, urlparse

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import monotonic_clock, outgoing_handler, poll, streams, types
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    Method_Post,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
)

BODY = b"0123456789"


def sleep_ms(ms: int) -> None:
    p = monotonic_clock.subscribe_duration(ms * 1_000_000)
    p.block()
    p.__exit__(None, None, None)


def code_text(code) -> str:
    name = type(code).__name__.split("_", 1)[1]
    value = getattr(code, "value", None)
    return f"{name}({value})" if value is not None else name


def write(stream, data: bytes, log: list) -> None:
    try:
        stream.blocking_write_and_flush(data)
    except Err as e:
        err = e.value
        if isinstance(err, streams.StreamError_LastOperationFailed):
            code = types.http_error_code(err.value)
            log.append(f"write: err {code_text(code) if code is not None else err.value.to_debug_string()}")
        else:
            log.append("write: closed")


def finish(body, log: list) -> None:
    try:
        OutgoingBody.finish(body, None)
        log.append("finish: ok")
    except Err as e:
        log.append(f"finish: err {code_text(e.value)}")


def read_all(stream) -> bytes:
    parts = []
    while True:
        try:
            parts.append(stream.blocking_read(65536))
        except Err:
            return b"".join(parts)


def send(url: str, order: str, length: str | None, drop_future: bool = False) -> bytes:
    u = urlparse(url)
    headers = [("content-length", length.encode())] if length is not None else []
    req = OutgoingRequest(Fields.from_list(headers))
    req.set_method(Method_Get() if order in ("empty", "nobody") else Method_Post())
    req.set_scheme(Scheme_Http())
    req.set_authority(u.netloc)
    req.set_path_with_query(u.path or "/")
    log: list[str] = []
    body = stream = None
    if order != "nobody":
        body = req.body()
        stream = body.write()
    half = len(BODY) // 2
    if order in ("before", "after"):
        write(stream, BODY, log)
    if order == "before":
        stream.__exit__(None, None, None)
        finish(body, log)
    if order == "drop-before":
        write(stream, BODY[:half], log)
        stream.__exit__(None, None, None)
        body.__exit__(None, None, None)
    try:
        future = outgoing_handler.handle(req, None)
    except Err as e:
        return f"handle: err {code_text(e.value)}\n".encode()
    if order == "chunks":
        write(stream, BODY[:half], log)
        sleep_ms(300)
        write(stream, BODY[half:], log)
    if order == "drop":
        write(stream, BODY[:half], log)
        stream.__exit__(None, None, None)
        body.__exit__(None, None, None)
    if order in ("after", "chunks", "empty"):
        stream.__exit__(None, None, None)
        finish(body, log)
    while (got := future.get()) is None:
        p = future.subscribe()
        poll.poll([p])
        p.__exit__(None, None, None)
    if drop_future:
        future.__exit__(None, None, None)
    inner = got.value
    if isinstance(inner, Err):
        log.append(f"error: {code_text(inner.value)}")
    else:
        resp = inner.value
        incoming = resp.consume()
        s = incoming.stream()
        data = read_all(s)
        s.__exit__(None, None, None)
        log.append(f"status: {resp.status()}")
        log.append(data.decode())
    return ("\n".join(log) + "\n").encode()


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        query = parse_qs(urlparse(request.path_with_query() or "/").query)
        length = query.get("length", [None])[0]
        out = send(query["url"][0], query["order"][0], length, "drop_future" in query)
        resp = OutgoingResponse(Fields())
        ob = resp.body()
        ResponseOutparam.set(response_out, Ok(resp))
        s = ob.write()
        s.blocking_write_and_flush(out)
        s.__exit__(None, None, None)
        OutgoingBody.finish(ob, None)

