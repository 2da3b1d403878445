"""The HTTP benchmark's guest (componentize-py, `wasi:http/proxy`): "Hello, world!" on every path,
and `POST /echo` answering with the request body (for body throughput)."""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import streams
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam


def write_all(s: streams.OutputStream, data: bytes) -> None:
    """Write more than blocking-write-and-flush's 4096 bytes: as much as check-write permits each time."""
    view = memoryview(data)
    while view:
        n = s.check_write()
        if n == 0:
            p = s.subscribe()
            p.block()
            p.__exit__(None, None, None)
            continue
        s.write(bytes(view[:n]))
        view = view[n:]
    s.blocking_flush()


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        body = b"Hello, world!\n"
        if request.path_with_query() == "/echo":
            incoming = request.consume()
            stream = incoming.stream()
            parts = []
            while True:
                try:
                    parts.append(stream.blocking_read(1 << 20))
                except Err as e:
                    if isinstance(e.value, streams.StreamError_Closed):
                        break
                    raise
            stream.__exit__(None, None, None)
            body = b"".join(parts)
        resp = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        out = resp.body()
        ResponseOutparam.set(response_out, Ok(resp))
        s = out.write()
        if len(body) <= 4096:
            s.blocking_write_and_flush(body)
        else:
            write_all(s, body)
        s.__exit__(None, None, None)
        OutgoingBody.finish(out, None)
