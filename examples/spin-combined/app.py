"""Orders: a Spin app using five Spin interfaces at once, written with spin-sdk 3.4.1 as for `spin up`.

POST /orders/ITEM?quantity=N   price ITEM from the pricing service (outbound HTTP, its URL a variable),
                               store the order in SQLite, count it in Redis, remember it in key-value
GET  /orders                   the orders (SQLite), the Redis counters and the last order (key-value)
GET  /probe/http?url=U         outbound HTTP to U: a host `allowed_outbound_hosts` does not grant is refused
GET  /probe/sqlite?db=NAME     open database NAME: one `sqlite_databases` does not grant is refused
GET  /probe/redis?addr=A       open Redis at A: an address not granted is refused

spin-sdk's `spin_sdk.sqlite` cannot be imported with its pinned componentize-py (see tests/app/sqlite), so
SQLite goes through the generated module, as that wrapper does.
"""

import json
from urllib.parse import parse_qs, urlsplit

from spin_sdk import http, key_value, redis, variables
from spin_sdk.http import Request, Response
from spin_sdk.wit.imports import fermyon_spin_sqlite as sqlite
from spin_sdk.wit.imports.fermyon_spin_sqlite import Value_Integer, Value_Real, Value_Text
from spin_sdk.wit.types import Err


def answer(status: int, body: object) -> Response:
    return Response(status, {"content-type": "application/json"}, json.dumps(body).encode())


def error_name(e: Err) -> str:
    """The WIT error case an `Err` carries, e.g. `Error_AccessDenied`, with its message if it has one."""
    detail = getattr(e.value, "value", None)
    name = type(e.value).__name__
    return f"{name}: {detail}" if isinstance(detail, str) and detail else name


def place_order(item: str, quantity: int) -> Response:
    priced = http.send(Request("GET", f"{variables.get('pricing_url')}/price/{item}", {}, None))
    if priced.status != 200:
        return answer(502, {"error": f"pricing service answered {priced.status} for {item!r}"})
    unit_price = float((priced.body or b"").decode())
    currency = variables.get("currency")
    with sqlite.Connection.open("default") as db:
        db.execute("INSERT INTO orders(item, quantity, unit_price, currency) VALUES (?, ?, ?, ?)",
                   [Value_Text(item), Value_Integer(quantity), Value_Real(unit_price), Value_Text(currency)])
        order_id = db.execute("SELECT last_insert_rowid()", []).rows[0].values[0].value
    with redis.open(variables.get("redis_address")) as r:
        orders_total = r.incr("orders:count")
        item_total = r.incr(f"orders:item:{item}")
        r.publish("orders", f"{order_id} {item} {quantity}".encode())
    with key_value.open_default() as store:
        store.set("last-order", json.dumps({"id": order_id, "item": item}).encode())
    return answer(201, {"id": order_id, "item": item, "quantity": quantity, "unit_price": unit_price,
                        "total": round(unit_price * quantity, 2), "currency": currency,
                        "orders": orders_total, "orders_of_item": item_total})


def list_orders() -> Response:
    with sqlite.Connection.open("default") as db:
        rows = db.execute("SELECT id, item, quantity, unit_price FROM orders ORDER BY id", []).rows
    with redis.open(variables.get("redis_address")) as r:
        count = r.get("orders:count")
    with key_value.open_default() as store:
        last = store.get("last-order")
    return answer(200, {"orders": [[v.value for v in row.values] for row in rows],
                        "redis_count": int(count) if count is not None else 0,
                        "last_order": json.loads(last) if last is not None else None})


def probe(kind: str, q: dict[str, str]) -> Response:
    try:
        if kind == "http":
            r = http.send(Request("GET", q["url"], {}, None))
            return answer(200, {"status": r.status})
        if kind == "sqlite":
            with sqlite.Connection.open(q["db"]) as db:
                db.execute("SELECT 1", [])
            return answer(200, {"opened": q["db"]})
        with redis.open(q["addr"]) as r:
            r.execute("PING", [])
        return answer(200, {"opened": q["addr"]})
    except Err as e:
        return answer(403, {"error": error_name(e)})


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        url = urlsplit(request.uri)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        try:
            if parts[0] == "orders" and request.method == "POST" and len(parts) == 2:
                return place_order(parts[1], int(q.get("quantity", "1")))
            if parts == ["orders"] and request.method == "GET":
                return list_orders()
            if parts[0] == "probe" and len(parts) == 2:
                return probe(parts[1], q)
        except Err as e:
            return answer(503, {"error": error_name(e)})
        return answer(404, {"error": f"no route for {request.method} {url.path}"})
