"""A Spin app using Spin's LLM interface through spin-sdk 3.4.1 (`from spin_sdk import llm`), as for `spin up`.

POST /embed/<model>   body: a JSON list of texts -> {"embeddings": [...], "prompt_token_count": n}
POST /infer/<model>   body: the prompt; header x-params: "default" (llm.infer) or JSON InferencingParams
Errors answer 500 with `<ErrorClass>: <payload>`.
"""

import json

from spin_sdk import http, llm
from spin_sdk.http import Request, Response


def _error(e: Exception) -> Response:
    err = getattr(e, "value", e)
    text = type(err).__name__ + (f": {err.value}" if hasattr(err, "value") else "")
    return Response(500, {"content-type": "text/plain"}, text.encode())


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        path = request.headers.get("spin-path-info", "")
        _, op, model = path.split("/", 2)
        body = request.body or b""
        try:
            if op == "embed":
                r = llm.generate_embeddings(model, json.loads(body))
                out = {"embeddings": r.embeddings, "prompt_token_count": r.usage.prompt_token_count}
            elif op == "infer":
                given = request.headers.get("x-params", "default")
                if given == "default":
                    r = llm.infer(model, body.decode())
                else:
                    r = llm.infer_with_options(model, body.decode(), llm.InferencingParams(**json.loads(given)))
                out = {"text": r.text, "prompt_token_count": r.usage.prompt_token_count,
                       "generated_token_count": r.usage.generated_token_count}
            else:
                return Response(404, {}, b"")
        except Exception as e:  # spin_sdk raises Err(Error_...)
            return _error(e)
        return Response(200, {"content-type": "application/json"}, json.dumps(out).encode())
