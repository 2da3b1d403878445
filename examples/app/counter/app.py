"""The example app's Python component: variables for the greeting, key-value for a counter and notes."""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import key_value, streams, variables
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    Method_Put,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


def respond(out: ResponseOutparam, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", content_type)]))
    response.set_status_code(status)
    outgoing = response.body()
    ResponseOutparam.set(out, Ok(response))
    stream = outgoing.write()
    stream.blocking_write_and_flush(body)
    stream.__exit__(None, None, None)
    OutgoingBody.finish(outgoing, None)


def read_body(request: IncomingRequest) -> bytes:
    stream = request.consume().stream()
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


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        # spin-path-info is the path below the route (/api/...): "/hello", "/notes/x".
        headers = request.headers().entries()
        info = dict(headers).get("spin-path-info", b"/").decode() or "/"
        if info == "/headers":  # the routing information the host adds (Spin's request headers)
            lines = sorted(f"{k}: {v.decode()}" for k, v in headers if k.startswith("spin-"))
            respond(response_out, 200, ("\n".join(lines) + "\n").encode())
            return
        if info.startswith("/static/"):  # the component's read-only `files`, mounted at /static
            try:
                with open(info, "rb") as f:
                    respond(response_out, 200, f.read())
            except OSError as e:
                respond(response_out, 404, f"{type(e).__name__}: {e.strerror}\n".encode())
            return
        if info == "/write-test":
            try:
                with open("/static/new.txt", "w") as f:
                    f.write("x")
                respond(response_out, 200, b"write allowed\n")
            except OSError as e:
                respond(response_out, 403, f"write denied: {e.strerror}\n".encode())
            return
        try:
            store = key_value.Store.open("default")
        except Err as e:  # this component was not granted the store (key_value_stores)
            respond(response_out, 403, f"key-value store denied: {type(e.value).__name__}\n".encode())
            return
        method = request.method()
        if info == "/hello":
            count = int(store.get("visits") or b"0") + 1
            store.set("visits", str(count).encode())
            greeting = variables.get("greeting")
            respond(response_out, 200, f"{greeting}! You are visitor #{count}.\n".encode())
        elif info == "/notes":
            names = sorted(k.removeprefix("note:") for k in store.get_keys() if k.startswith("note:"))
            respond(response_out, 200, "".join(n + "\n" for n in names).encode())
        elif info.startswith("/notes/") and len(info) > len("/notes/"):
            key = "note:" + info[len("/notes/"):]
            if isinstance(method, Method_Put):
                store.set(key, read_body(request))
                respond(response_out, 201, b"stored\n")
            elif isinstance(method, Method_Get):
                value = store.get(key)
                if value is None:
                    respond(response_out, 404, b"no such note\n")
                else:
                    respond(response_out, 200, value, b"application/octet-stream")
            else:
                respond(response_out, 405, b"use GET or PUT\n")
        else:
            respond(response_out, 404, b"try /api/hello or /api/notes\n")
