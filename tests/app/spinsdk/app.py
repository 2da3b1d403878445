"""A Spin app written with the spin-sdk package (3.4.1), exactly as for `spin up`."""

from spin_sdk import http, key_value, mysql, redis, variables
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        if request.uri.endswith("/unbacked"):
            # Not backed by wasmhive: each must answer with its interface's own error (not a link failure).
            out = []
            for name, open_ in (("mysql", mysql.open), ("redis", redis.open)):
                try:
                    open_(f"{name}://127.0.0.1:1/db")
                    out.append(f"{name}: opened?")
                except Exception as e:  # spin_sdk raises Err(Error_...)
                    out.append(f"{name}: {type(e.value).__name__}")
            return Response(503, {"content-type": "text/plain"}, "\n".join(out).encode())
        with key_value.open_default() as store:
            count = int(store.get("count") or b"0") + 1
            store.set("count", str(count).encode())
        greeting = variables.get("greeting")
        path_info = request.headers.get("spin-path-info", "")
        return Response(200, {"content-type": "text/plain"},
                        f"{greeting} #{count} {request.method} {path_info}".encode())
