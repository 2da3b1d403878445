"""A Spin app (spin-sdk 3.4.1) that runs the SQL it is sent against Spin's outbound databases.

POST /db with a JSON body `{"iface": "pg2" | "pg3" | "pg4" | "mysql", "address": ..., "ops": [...]}`;
each op is `{"op": "query" | "execute", "sql": ..., "params": [[case, value], ...]}` with the case named
as in the SDK (`Int32`, `DbNull`, `Date`, `RangeInt32`, ...). The answer lists each op's result:
`{"ok": ...}` or `{"err": "<Error class>", "msg": ...}`; an `open` failure is the first entry.
"""

import dataclasses
import enum
import json

from spin_sdk import http, mysql, postgres
from spin_sdk.http import Request, Response
from spin_sdk.wit.imports import rdbms_types
from spin_sdk.wit.imports import spin_postgres_postgres_4_0_0 as pg4

try:  # the module's name as componentize-py 0.17 generates it at build time (two versions: suffixed)
    from spin_sdk.wit.imports import spin_postgres_postgres_3_0_0 as pg3
except ImportError:  # the name of the copy spin-sdk ships
    from spin_sdk.wit.imports import spin_postgres_postgres as pg3

MODULES = {"pg2": (rdbms_types, postgres.open), "pg3": (pg3, pg3.Connection.open),
           "pg4": (pg4, pg4.Connection.open), "mysql": (rdbms_types, mysql.open)}


def param(mod, case, value=None):
    cls = getattr(mod, "ParameterValue_" + case)
    if case == "DbNull":
        return cls()
    if case in ("Binary", "Jsonb"):
        value = bytes.fromhex(value)
    elif case in ("Date", "Time", "Datetime"):
        value = tuple(value)
    elif case.startswith("Range"):
        value = tuple(None if b is None else (b[0], mod.RangeBoundKind[b[1].upper()]) for b in value)
    elif case == "Interval":
        value = mod.Interval(**value)
    return cls(value)


def enc(v):
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, enum.Enum):
        return v.name.lower()
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if dataclasses.is_dataclass(v):
        name = type(v).__name__
        if "_" in name:  # a variant case: DbValue_Int32(value=...) -> ["Int32", ...]
            case = name.split("_", 1)[1]
            return [case, enc(v.value)] if hasattr(v, "value") else [case]
        return {f.name: enc(getattr(v, f.name)) for f in dataclasses.fields(v)}
    return v


def error(e):
    inner = getattr(e, "value", e)
    return {"err": type(inner).__name__, "msg": enc(getattr(inner, "value", str(inner)))}


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        job = json.loads(request.body)
        mod, open_ = MODULES[job["iface"]]
        out = []
        try:
            conn = open_(job["address"])
        except Exception as e:
            out.append(error(e))
            return Response(200, {"content-type": "application/json"}, json.dumps(out).encode())
        for op in job["ops"]:
            try:
                params = [param(mod, *p) for p in op.get("params", [])]
                if op["op"] == "query":
                    rs = conn.query(op["sql"], params)
                    out.append({"ok": {"columns": [[c.name, enc(c.data_type)] for c in rs.columns],
                                       "rows": [[enc(v) for v in row] for row in rs.rows]}})
                else:
                    out.append({"ok": conn.execute(op["sql"], params)})
            except Exception as e:
                out.append(error(e))
        return Response(200, {"content-type": "application/json"}, json.dumps(out).encode())
