"""A wasi:http guest using wasmhive:tee (sealing + attestation), for tests/test_tee_component.py.

Routes (by the path's last segment, so any route prefix works; errors answer 422 with
"err:<case>:<message>"):
  POST /seal?policy=same-code|same-signer   the body sealed
  POST /unseal                              the body unsealed
  GET  /report?nonce=HEX&data=HEX           evidence for that nonce and user data
  GET  /measurement                         this component's measurement
A constant below differs between builds (VARIANT), so two builds are two different modules.
"""

from urllib.parse import parse_qs, urlparse

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import attestation, sealing, streams
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam

VARIANT = "one"


def respond(out: ResponseOutparam, status: int, body: bytes) -> None:
    resp = OutgoingResponse(Fields.from_list([("content-type", b"application/octet-stream")]))
    resp.set_status_code(status)
    ob = resp.body()
    ResponseOutparam.set(out, Ok(resp))
    stream = ob.write()
    # at most 4096 bytes per write (wasi:io's check-write contract for blocking-write-and-flush)
    for i in range(0, len(body), 4096):
        stream.blocking_write_and_flush(body[i:i + 4096])
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


def error_text(e: Err) -> bytes:
    v = e.value
    name = type(v).__name__.split("_", 1)[1]  # e.g. Error_OtherCode -> other-code
    case = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return f"err:{case}:{v.value}".encode()


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        url = urlparse(request.path_with_query() or "/")
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        op = url.path.rsplit("/", 1)[-1]
        try:
            if op == "seal":
                policy = sealing.Policy.SAME_SIGNER if q.get("policy") == "same-signer" else sealing.Policy.SAME_CODE
                respond(response_out, 200, sealing.seal(read_body(request), policy))
            elif op == "unseal":
                respond(response_out, 200, sealing.unseal(read_body(request)))
            elif op == "report":
                token = attestation.report(bytes.fromhex(q.get("nonce", "")), bytes.fromhex(q.get("data", "")))
                respond(response_out, 200, token.encode())
            elif op == "measurement":
                respond(response_out, 200, attestation.measurement().encode())
            else:
                respond(response_out, 404, VARIANT.encode())
        except Err as e:
            respond(response_out, 422, error_text(e))
