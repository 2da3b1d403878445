"""A Spin app that publishes to MQTT with spin-sdk 3.4.1 (`from spin_sdk import mqtt`), as for `spin up`.

POST /mqtt/publish?address=...&user=...&password=...&topic=...&qos=0|1|2[&count=N] publishes the request
body (N times on one connection; `opens=K` opens K connections first); 200 "published N", or 502 "<error class>: <value>".
"""

from urllib.parse import parse_qs, urlsplit

from spin_sdk import http, mqtt
from spin_sdk.http import Request, Response
from spin_sdk.mqtt import Qos

QOS = {"0": Qos.AT_MOST_ONCE, "1": Qos.AT_LEAST_ONCE, "2": Qos.EXACTLY_ONCE}


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.uri).query, keep_blank_values=True).items()}
        count = int(q.get("count", "1"))
        try:
            # `opens` > 1 keeps several connections open at once (the per-instance limit)
            conns = [mqtt.open(q["address"], q.get("user", ""), q.get("password", ""), int(q.get("keepalive", "30")))
                     for _ in range(int(q.get("opens", "1")))]
            for _ in range(count):
                conns[-1].publish(q["topic"], request.body or b"", QOS[q.get("qos", "0")])
            for conn in conns:
                conn.__exit__(None, None, None)
        except Exception as e:  # spin_sdk raises Err(Error_...)
            err = getattr(e, "value", e)
            detail = getattr(err, "value", "")
            return Response(502, {"content-type": "text/plain"}, f"{type(err).__name__}: {detail}".encode())
        return Response(200, {"content-type": "text/plain"}, f"published {count}".encode())
