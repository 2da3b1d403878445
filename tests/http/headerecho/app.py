"""A wasi:http/proxy guest that answers with its request's header fields exactly as it got them.

The body is one line per field, in the order `fields.entries()` gives them: the name, a TAB, the
value's bytes in hex (so any byte, UTF-8 or not, comes back unambiguous). Built with componentize-py.
"""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        lines = [f"{name}\t{value.hex()}" for name, value in request.headers().entries()]
        body = ("\n".join(lines) + "\n").encode()
        resp = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        ob = resp.body()
        ResponseOutparam.set(response_out, Ok(resp))
        stream = ob.write()
        stream.blocking_write_and_flush(body)
        stream.__exit__(None, None, None)
        OutgoingBody.finish(ob, None)
