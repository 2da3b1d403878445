"""A wasi:http/proxy guest for wasmhive's HTTP trigger tests (built with componentize-py).

Routes (by path):
  /hello            200 "Hello from Python!"
  /echo             echo the request body (any method), content-type copied
  /stream?n=50      n chunks "chunk i\n", each written with blocking-write-and-flush, 20 ms apart
  /headers          the request's headers as "name: value" lines, plus method/path/scheme/authority
  /trap             raises (a trap)
  /loop             spins forever (deadline test)
  /noresponse       returns without setting a response
  /status/N         empty response with status N
  /outbound?url=U   GET U through wasi:http/outgoing-handler; "STATUS\n" + body, or "error: CODE";
                    each `&header=NAME:VALUE` is sent as a request header
  /print            writes to stdout and stderr, then 200
  /fields           exercises fields rules; one line per check
  /big?n=N          N bytes of 'x' in 64 KiB writes
  /env              $GREETING, the wall-clock year, and 8 random bytes (hex)
  /alloc?mb=N       allocates N MiB, then 200 "allocated"
"""

from urllib.parse import parse_qs, urlparse

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import monotonic_clock, outgoing_handler, poll, streams
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
    Scheme_Https,
)


def method_name(m) -> str:
    if hasattr(m, "value"):
        return str(m.value)
    return type(m).__name__.split("_", 1)[1].upper()


def respond(out: ResponseOutparam, status: int, body: bytes = b"", headers=None) -> None:
    entries = [(k, v) for k, v in (headers or [])]
    resp = OutgoingResponse(Fields.from_list(entries))
    resp.set_status_code(status)
    ob = resp.body()
    ResponseOutparam.set(out, Ok(resp))
    stream = ob.write()
    if body:
        stream.blocking_write_and_flush(body)
    stream.__exit__(None, None, None)
    OutgoingBody.finish(ob, None)


def read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    stream = body.stream()
    parts = []
    while True:
        try:
            parts.append(stream.blocking_read(65536))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            raise
    stream.__exit__(None, None, None)
    return b"".join(parts)


def sleep_ms(ms: int) -> None:
    p = monotonic_clock.subscribe_duration(ms * 1_000_000)
    p.block()
    p.__exit__(None, None, None)


def fields_checks() -> bytes:
    lines = []
    f = Fields()
    f.append("x-a", b"1")
    f.append("x-a", b"2")
    lines.append(f"get={f.get('x-a')!r}")
    lines.append(f"has={f.has('X-A')}")
    try:
        f.append("bad name", b"v")
        lines.append("invalid-name=accepted")
    except Err as e:
        lines.append(f"invalid-name={type(e.value).__name__}")
    try:
        f.append("x-b", b"bad\nvalue")
        lines.append("invalid-value=accepted")
    except Err as e:
        lines.append(f"invalid-value={type(e.value).__name__}")
    try:
        Fields.from_list([("connection", b"close")])
        lines.append("forbidden=accepted")
    except Err as e:
        lines.append(f"forbidden={type(e.value).__name__}")
    lines.append(f"entries={f.entries()!r}")
    f.delete("x-a")
    lines.append(f"after-delete={f.entries()!r}")
    resp = OutgoingResponse(f)
    h = resp.headers()
    try:
        h.set("x-c", [b"3"])
        lines.append("immutable=accepted")
    except Err as e:
        lines.append(f"immutable={type(e.value).__name__}")
    c = h.clone()
    c.set("x-c", [b"3"])
    lines.append(f"clone-mutable={c.get('x-c')!r}")
    return ("\n".join(lines) + "\n").encode()


def outbound(url: str, headers=()) -> bytes:
    u = urlparse(url)
    req = OutgoingRequest(Fields.from_list([(n, v.encode()) for n, _, v in (h.partition(":") for h in headers)]))
    req.set_method(Method_Get())
    req.set_scheme(Scheme_Https() if u.scheme == "https" else Scheme_Http())
    req.set_authority(u.netloc)
    req.set_path_with_query((u.path or "/") + (f"?{u.query}" if u.query else ""))
    body = req.body()
    OutgoingBody.finish(body, None)
    try:
        future = outgoing_handler.handle(req, None)
    except Err as e:
        return f"error: {type(e.value).__name__}".encode()
    while True:
        got = future.get()
        if got is not None:
            break
        p = future.subscribe()
        poll.poll([p])
        p.__exit__(None, None, None)
    inner = got.value
    if isinstance(inner, Err):
        return f"error: {type(inner.value).__name__}".encode()
    resp = inner.value
    status = resp.status()
    data = read_body(resp)
    return f"{status}\n".encode() + data


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        pq = request.path_with_query() or "/"
        u = urlparse(pq)
        path, query = u.path, parse_qs(u.query)
        if path == "/hello" or path == "/":
            respond(response_out, 200, b"Hello from Python!\n", [("content-type", b"text/plain")])
        elif path == "/echo":
            ctype = request.headers().get("content-type")
            data = read_body(request)
            respond(response_out, 200, data, [("content-type", ctype[0])] if ctype else [])
        elif path == "/stream":
            n = int(query.get("n", ["50"])[0])
            delay = int(query.get("delay", ["20"])[0])
            resp = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
            ob = resp.body()
            ResponseOutparam.set(response_out, Ok(resp))
            s = ob.write()
            for i in range(n):
                s.blocking_write_and_flush(f"chunk {i}\n".encode())
                if delay:
                    sleep_ms(delay)
            s.__exit__(None, None, None)
            OutgoingBody.finish(ob, None)
        elif path == "/headers":
            lines = [f"method: {method_name(request.method())}", f"path: {pq}",
                     f"scheme: {request.scheme()!r}", f"authority: {request.authority()}"]
            for k, v in request.headers().entries():
                lines.append(f"{k}: {v.decode()}")
            respond(response_out, 200, ("\n".join(lines) + "\n").encode())
        elif path == "/trap":
            raise RuntimeError("boom from the guest")
        elif path == "/loop":
            while True:
                pass
        elif path == "/noresponse":
            return
        elif path.startswith("/status/"):
            respond(response_out, int(path.rsplit("/", 1)[1]))
        elif path == "/outbound":
            respond(response_out, 200, outbound(query["url"][0], query.get("header", [])))
        elif path == "/print":
            print("hello on stdout")
            import sys
            print("hello on stderr", file=sys.stderr)
            respond(response_out, 200, b"printed\n")
        elif path == "/fields":
            respond(response_out, 200, fields_checks())
        elif path == "/env":
            import os
            import time
            text = f"{os.environ.get('GREETING')}\n{time.gmtime().tm_year}\n{os.urandom(8).hex()}\n"
            respond(response_out, 200, text.encode())
        elif path == "/alloc":
            block = bytearray(int(query.get("mb", ["1"])[0]) * 1024 * 1024)
            respond(response_out, 200, f"allocated {len(block)}".encode())
        elif path == "/big":
            n = int(query.get("n", ["1048576"])[0])
            resp = OutgoingResponse(Fields())
            ob = resp.body()
            ResponseOutparam.set(response_out, Ok(resp))
            s = ob.write()
            chunk = b"x" * 65536
            while n > 0:
                s.blocking_write_and_flush(chunk[:n])
                n -= len(chunk)
            s.__exit__(None, None, None)
            OutgoingBody.finish(ob, None)
        else:
            respond(response_out, 404, b"not found\n")
