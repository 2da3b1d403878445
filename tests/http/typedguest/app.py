"""A wasi:http/proxy guest (componentize-py) reporting the exact wasi:http values the host hands it.

Any request is answered 200 with one `name=value` line per check, each value the `repr` the guest's
bindings made of what the host returned (so a wrong case, payload or nesting shows up as text):

  method, scheme          the incoming request's `method` / `scheme` variants
  consume, consume-again  `incoming-request.consume` twice (the second is `err`)
  stream-again            `incoming-body.stream` a second time (`err`)
  trailers, trailers-again  `future-trailers.get` after `incoming-body.finish`, twice
  set-method, method-back, bad-method  an outgoing request's `set-method(other("PURGE"))`, `method()`,
                          and `set-method(other("bad method"))` (refused: not a token)
  set-scheme, scheme-back `set-scheme(some(other("ftp")))` and `scheme()`
  bad-path, bad-authority `set-path-with-query("no-slash")`, `set-authority("a b")` (both refused)
  timeout                 `request-options` connect timeout set to 5 ms and read back
  ftp                     `outgoing-handler.handle` of the ftp request (`err(HTTP-protocol-error)`)
  denied                  a request to `http://denied.test/` (not allowed)
  dns, dns-again          a request to `?dns=HOST` (allowed, never resolves): the future's value, twice
"""

from urllib.parse import parse_qs, urlparse

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import outgoing_handler, poll
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Get,
    Method_Other,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    RequestOptions,
    ResponseOutparam,
    Scheme_Http,
    Scheme_Other,
)


def attempt(call):
    """`call()`'s value, or `err <value>` when the host returned `err`."""
    try:
        return call()
    except Err as e:
        return f"err {e.value!r}"


def request(scheme, authority: str) -> OutgoingRequest:
    req = OutgoingRequest(Fields())
    req.set_method(Method_Get())
    req.set_scheme(scheme)
    req.set_authority(authority)
    req.set_path_with_query("/")
    return req


def wait(future):
    while True:
        got = future.get()
        if got is not None:
            return got
        p = future.subscribe()
        poll.poll([p])
        p.__exit__(None, None, None)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request_in: IncomingRequest, response_out: ResponseOutparam) -> None:
        query = parse_qs(urlparse(request_in.path_with_query() or "/").query)
        lines = [("method", request_in.method()), ("scheme", request_in.scheme())]

        body = request_in.consume()
        lines.append(("consume", type(body).__name__))
        lines.append(("consume-again", attempt(request_in.consume)))
        stream = body.stream()
        lines.append(("stream-again", attempt(body.stream)))
        stream.__exit__(None, None, None)
        trailers = IncomingBody.finish(body)
        lines.append(("trailers", trailers.get()))
        lines.append(("trailers-again", trailers.get()))

        out = OutgoingRequest(Fields())
        lines.append(("set-method", attempt(lambda: out.set_method(Method_Other("PURGE")))))
        lines.append(("method-back", out.method()))
        lines.append(("bad-method", attempt(lambda: out.set_method(Method_Other("bad method")))))
        lines.append(("set-scheme", attempt(lambda: out.set_scheme(Scheme_Other("ftp")))))
        lines.append(("scheme-back", out.scheme()))
        lines.append(("bad-path", attempt(lambda: out.set_path_with_query("no-slash"))))
        lines.append(("bad-authority", attempt(lambda: out.set_authority("a b"))))
        out.set_authority("example.test")
        options = RequestOptions()
        options.set_connect_timeout(5_000_000)
        lines.append(("timeout", options.connect_timeout()))
        lines.append(("ftp", attempt(lambda: outgoing_handler.handle(out, options))))

        lines.append(("denied", attempt(lambda: outgoing_handler.handle(request(Scheme_Http(), "denied.test"), None))))
        future = outgoing_handler.handle(request(Scheme_Http(), query["dns"][0]), None)
        lines.append(("dns", wait(future)))
        lines.append(("dns-again", future.get()))

        text = "".join(f"{name}={value!r}\n" if not isinstance(value, str) else f"{name}={value}\n"
                       for name, value in lines)
        resp = OutgoingResponse(Fields())
        ob = resp.body()
        ResponseOutparam.set(response_out, Ok(resp))
        s = ob.write()
        s.blocking_write_and_flush(text.encode())
        s.__exit__(None, None, None)
        OutgoingBody.finish(ob, None)
