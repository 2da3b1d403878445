"""A digit classifier guest behind HTTP: the image goes to the host's inference engine through wasi-nn.

    POST /classify        body: 64 bytes, pixel values 0..16 → {"label": 3, "probabilities": [...]}
    POST /classify-pure   the same, computed by plain Python inside the sandbox (for comparison)
    POST /infer?model=M&input=I&type=FP32&dims=1,64
                          body: raw tensor bytes → every output tensor (hex data), or 400 {"error": code}
    POST /load            body: ONNX model bytes → {"loaded": size}; denied unless the operator allows it
"""

import json
from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Err, Ok
from digits import classify_nn, classify_pure, error_json
from wit_world import exports
from wit_world.imports import graph, streams
from wit_world.imports.tensor import Tensor, TensorType
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam


def infer(query: dict, body: bytes) -> dict:
    """A generic wasi-nn call: one named input tensor as given, every output back (for tests and tools)."""
    dims = [int(d) for d in query["dims"][0].split(",")]
    tensor = Tensor(dims, TensorType[query.get("type", ["FP32"])[0]], body)
    ctx = graph.load_by_name(query["model"][0]).init_execution_context()
    outputs = ctx.compute([(query.get("input", ["input"])[0], tensor)])
    return {"outputs": {name: {"type": t.ty().name, "dims": list(t.dimensions()), "data": bytes(t.data()).hex()}
                        for name, t in outputs}}


def load_bytes(model: bytes) -> dict:
    """Load a graph from guest bytes (the host refuses with `security` unless allowed)."""
    g = graph.load([model], graph.GraphEncoding.ONNX, graph.ExecutionTarget.CPU)
    g.init_execution_context()
    return {"loaded": len(model)}


def respond(out: ResponseOutparam, status: int, doc: dict) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", b"application/json")]))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(out, Ok(response))
    stream = body.write()
    stream.blocking_write_and_flush(json.dumps(doc).encode())
    stream.__exit__(None, None, None)
    OutgoingBody.finish(body, None)


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
        url = urlsplit(request.path_with_query() or "/")
        body = read_body(request)
        try:
            if url.path.endswith("/classify") or url.path.endswith("/classify-pure"):
                if len(body) != 64 or max(body, default=0) > 16:
                    respond(response_out, 400, {"error": "the body must be 64 pixel values 0..16"})
                    return
                run = classify_pure if url.path.endswith("-pure") else classify_nn
                label, probs = run(body)
                respond(response_out, 200, {"label": label, "probabilities": probs})
            elif url.path.endswith("/load"):
                respond(response_out, 200, load_bytes(body))
            elif url.path.endswith("/infer"):
                respond(response_out, 200, infer(parse_qs(url.query), body))
            else:
                respond(response_out, 404, {"error": "POST /classify, /classify-pure, /infer or /load"})
        except Err as e:
            respond(response_out, 400, error_json(e))
