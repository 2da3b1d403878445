"""A Spin app using SQLite through spin-sdk 3.4.1, as for `spin up` (both interface versions).

spin-sdk 3.4.1's own `spin_sdk.sqlite` module cannot be imported in a build with its pinned
componentize-py 0.17.2: it imports `spin_sdk.wit.imports.sqlite`, but the bindings generated at build
time name `fermyon:spin/sqlite@2.0.0` `fermyon_spin_sqlite` (the SDK's componentize-py.toml renames
only postgres). The app therefore uses the generated modules directly, as the SDK's wrapper does.
"""

import json
import time

from spin_sdk import http
from spin_sdk.http import Request, Response
from spin_sdk.wit.imports import fermyon_spin_sqlite as v2
from spin_sdk.wit.imports import spin_sqlite_sqlite as v3
from spin_sdk.wit.imports.fermyon_spin_sqlite import (
    Value_Blob,
    Value_Integer,
    Value_Null,
    Value_Real,
    Value_Text,
)


def plain(value):
    """A WIT value as JSON: [case, payload] (blobs as hex)."""
    name = type(value).__name__.removeprefix("Value_").lower()
    if name == "null":
        return ["null", None]
    if name == "blob":
        return ["blob", bytes(value.value).hex()]
    return [name, value.value]


def error_name(e):
    """The WIT error case an `Err` carries (spin_sdk raises `Err(Error_...)`)."""
    v = getattr(e, "value", e)
    out = type(v).__name__
    if out.endswith("Error_Io"):
        return f"{out}: {v.value}"
    return out


def answer(status, body):
    return Response(status, {"content-type": "application/json"}, json.dumps(body).encode())


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        path = request.uri.split("?")[0]
        query = request.uri.partition("?")[2]
        if path == "/types":
            # Every value type, through parameters, and back.
            with v2.Connection.open("default") as db:
                db.execute("INSERT INTO things(i, r, t, b, n) VALUES (?, ?, ?, ?, ?)",
                           [Value_Integer(-9007199254740993), Value_Real(2.5), Value_Text("zß€ 'quoted'"),
                            Value_Blob(b"\x00\xffbin"), Value_Null()])
                res = db.execute("SELECT i, r, t, b, n, typeof(n) AS tn FROM things WHERE i = ?",
                                 [Value_Integer(-9007199254740993)])
            return answer(200, {"columns": res.columns, "rows": [[plain(v) for v in row.values] for row in res.rows]})
        if path == "/count":
            with v2.Connection.open("default") as db:
                res = db.execute("SELECT count(*) FROM things", [])
            return answer(200, {"count": res.rows[0].values[0].value})
        if path == "/open":
            name = query
            try:
                with v2.Connection.open(name) as db:
                    res = db.execute("SELECT 40 + 2 AS answer", [])
                    return answer(200, {"answer": res.rows[0].values[0].value, "columns": res.columns})
            except Exception as e:
                return answer(403, {"error": error_name(e)})
        if path == "/bad":
            with v2.Connection.open("default") as db:
                try:
                    db.execute("SELEC nonsense FROM nowhere", [])
                    return answer(200, {"error": None})
                except Exception as e:
                    return answer(400, {"error": error_name(e)})
        if path == "/runaway":
            with v2.Connection.open("default") as db:
                db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                           "SELECT count(*) FROM c", [])
            return answer(200, {"finished": True})
        if path == "/v3":
            # Spin 3's interface: last-insert-rowid and changes.
            with v3.Connection.open("default") as db:
                before = db.last_insert_rowid()
                db.execute("INSERT INTO things(i, t) VALUES (?, ?)", [v3.Value_Integer(7), v3.Value_Text("v3")])
                rowid = db.last_insert_rowid()
                inserted = db.changes()
                db.execute("UPDATE things SET r = 1.0 WHERE i = 7", [])
                updated = db.changes()
                res = db.execute("SELECT t FROM things WHERE rowid = ?", [v3.Value_Integer(rowid)])
            return answer(200, {"before": before, "rowid": rowid, "inserted": inserted, "updated": updated,
                                "text": res.rows[0].values[0].value})
        if path == "/txn":
            # A transaction the guest leaves open must not leak into the next request.
            db = v2.Connection.open("default")
            db.execute("BEGIN", [])
            db.execute("INSERT INTO things(i, t) VALUES (99, 'uncommitted')", [])
            return answer(200, {"left": "open"})
        if path == "/bench":
            # benchmarks/app.py: n point queries with a parameter inside one request, timed in the guest.
            n = int(query or "0")
            with v2.Connection.open("default") as db:
                t0 = time.perf_counter()
                for k in range(n):
                    db.execute("SELECT t FROM things WHERE i = ?", [Value_Integer(k % 1000)])
                elapsed = time.perf_counter() - t0
            return answer(200, {"n": n, "seconds": elapsed})
        return answer(404, {"error": "no such route"})
