"""PostgreSQL values for guests: the WIT's `parameter-value`s as psycopg values, and results as `row-set`s.

Each interface version sees only the cases its WIT defines (2.0 ⊂ 3.0 ⊂ 4.0); a column of another type
is `other` and its values `unsupported`. Results arrive in binary format: jsonb as its JSON text and
intervals with months, days and microseconds apart (the loaders in `_postgres._adapt`).
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from ...component._values import Variant
from ._errors import RdbmsError

__all__ = ["PG_OIDS", "TYPES", "Interval", "Json", "param", "row_set"]

# The PostgreSQL type OIDs each WIT type maps from (pg_type.oid; fixed for built-in types).
PG_OIDS = {
    "bool": 16, "bytea": 17, "char": 18, "name": 19, "int8": 20, "int2": 21, "int4": 23, "text": 25,
    "json": 114, "float4": 700, "float8": 701, "bpchar": 1042, "varchar": 1043, "date": 1082, "time": 1083,
    "timestamp": 1114, "timestamptz": 1184, "interval": 1186, "numeric": 1700, "uuid": 2950, "jsonb": 3802,
    "int4range": 3904, "numrange": 3906, "int8range": 3926, "_int4": 1007, "_int8": 1016, "_numeric": 1231,
    "_text": 1009, "_varchar": 1015, "_bpchar": 1014,
}
_O = PG_OIDS
_STR = {_O["text"], _O["varchar"], _O["bpchar"], _O["name"]}
# Column type per OID; a version sees only the cases its WIT defines (V2 ⊂ V3 ⊂ V4).
_V2_TYPES = {_O["bool"]: "boolean", _O["char"]: "int8", _O["int2"]: "int16", _O["int4"]: "int32",
             _O["int8"]: "int64", _O["float4"]: "floating32", _O["float8"]: "floating64", _O["bytea"]: "binary",
             **dict.fromkeys(_STR, "str")}
_V3_TYPES = {**_V2_TYPES, _O["date"]: "date", _O["time"]: "time", _O["timestamp"]: "datetime",
             _O["timestamptz"]: "datetime"}
_V4_TYPES = {**_V3_TYPES, _O["uuid"]: "uuid", _O["jsonb"]: "jsonb", _O["numeric"]: "decimal",
             _O["int4range"]: "range-int32", _O["int8range"]: "range-int64", _O["numrange"]: "range-decimal",
             _O["_int4"]: "array-int32", _O["_int8"]: "array-int64", _O["_numeric"]: "array-decimal",
             _O["_text"]: "array-str", _O["_varchar"]: "array-str", _O["_bpchar"]: "array-str",
             _O["interval"]: "interval"}
TYPES = {2: _V2_TYPES, 3: _V3_TYPES, 4: _V4_TYPES}


class Json(bytes):
    """JSON text, kept as the server sent it (and sent as jsonb)."""


class Interval:
    """A PostgreSQL interval as the WIT keeps it: months, days and microseconds apart."""

    __slots__ = ("days", "micros", "months")

    def __init__(self, micros: int, days: int, months: int) -> None:
        self.micros, self.days, self.months = micros, days, months


# -- parameters (WIT → psycopg) ---------------------------------------------------------------------
def param(v: Any, version: int) -> Any:
    """The psycopg value for one `parameter-value` (`Variant(tag, value)`); `bad-parameter` when it cannot be."""
    from psycopg.types import range as pr
    from psycopg.types.numeric import Float4, Float8, Int2, Int4, Int8

    tag, p = v.tag, v.value
    try:
        if tag == "boolean":
            return bool(p)
        if tag in ("int8", "int16"):  # PostgreSQL has no one-byte integer: int8 goes as int2
            return Int2(p)
        if tag == "int32":
            return Int4(p)
        if tag == "int64":
            return Int8(p)
        if tag.startswith("uint"):
            raise RdbmsError("bad-parameter", "PostgreSQL does not support unsigned integers")
        if tag == "floating32":
            return Float4(p)
        if tag == "floating64":
            return Float8(p)
        if tag == "str":
            return str(p)
        if tag == "binary":
            return bytes(p)
        if tag == "db-null":
            return None
        if tag == "date":
            return dt.date(*p)
        if tag == "time":
            h, m, s, ns = p
            return dt.time(h, m, s, ns // 1000)
        if tag == "datetime":
            y, mo, d, h, mi, s, ns = p
            return dt.datetime(y, mo, d, h, mi, s, ns // 1000)
        if tag == "timestamp":
            return dt.datetime.fromtimestamp(p, dt.UTC)
        if tag == "uuid":
            return uuid.UUID(p)
        if tag == "jsonb":
            return Json(bytes(p))
        if tag == "decimal":
            return _decimal(p)
        if tag == "range-int32":
            return pr.Int4Range(*_bounds(p, int))
        if tag == "range-int64":
            return pr.Int8Range(*_bounds(p, int))
        if tag == "range-decimal":
            return pr.NumericRange(*_bounds(p, _decimal))
        if tag == "array-int32":
            return [None if x is None else Int4(x) for x in p]
        if tag == "array-int64":
            return [None if x is None else Int8(x) for x in p]
        if tag == "array-decimal":
            return [None if x is None else _decimal(x) for x in p]
        if tag == "array-str":
            return list(p)
        if tag == "interval":
            return Interval(p.micros, p.days, p.months)
    except RdbmsError:
        raise
    except (ValueError, TypeError, OverflowError, InvalidOperation, AttributeError) as e:
        raise RdbmsError("bad-parameter", f"{tag}: {e}") from None
    raise RdbmsError("bad-parameter", f"parameter type {tag} is not supported")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None


def _bounds(p: Any, conv: Any) -> tuple[Any, Any, str]:
    (lo, hi) = p
    lower = None if lo is None else conv(lo[0])
    upper = None if hi is None else conv(hi[0])
    left = "[" if lo is not None and lo[1] == "inclusive" else "("
    right = "]" if hi is not None and hi[1] == "inclusive" else ")"
    return lower, upper, left + right


# -- results (psycopg → WIT) ------------------------------------------------------------------------
def row_set(description: Any, rows: list[tuple[Any, ...]], version: int, type_name: Any) -> dict[str, Any]:
    """The WIT `row-set` for a result: columns with their `db-data-type`, rows of `db-value`s.

    `type_name(oid)` names a type the version does not map (for v4's `other(string)`)."""
    types = TYPES[version]
    oids = [d.type_code for d in description]
    columns = []
    for d, oid in zip(description, oids, strict=True):
        kind = types.get(oid)
        if version == 4:
            data_type: Any = Variant(kind) if kind is not None else Variant("other", type_name(oid))
        else:
            data_type = kind or "other"
        columns.append({"name": d.name, "data-type": data_type})
    return {"columns": columns,
            "rows": [[_value(v, types.get(oid), version) for v, oid in zip(row, oids, strict=True)] for row in rows]}


def _value(v: Any, kind: str | None, version: int) -> Variant:
    if v is None:
        return Variant("db-null")
    if kind is None:
        if version == 4:
            raw = v if isinstance(v, bytes) else str(v).encode()
            return Variant("unsupported", raw)
        return Variant("unsupported")
    try:
        return Variant(kind, _payload(v, kind))
    except (ValueError, TypeError, OverflowError, AttributeError) as e:
        raise RdbmsError("value-conversion-failed", f"{kind}: {e}") from None


def _payload(v: Any, kind: str) -> Any:
    if kind in ("boolean", "floating32", "floating64"):
        return v
    if kind == "int8":  # PostgreSQL's one-byte "char"
        if isinstance(v, int):
            return v
        raw = bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode("latin-1")
        return struct.unpack("b", raw[:1] or b"\0")[0]
    if kind in ("int16", "int32", "int64"):
        return int(v)
    if kind == "str":
        return str(v)
    if kind in ("binary", "jsonb"):
        return bytes(v)
    if kind == "date":
        return (v.year, v.month, v.day)
    if kind == "time":
        return (v.hour, v.minute, v.second, v.microsecond * 1000)
    if kind == "datetime":
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC)
        return (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond * 1000)
    if kind == "uuid":
        return str(v)
    if kind == "decimal":
        return str(v)
    if kind.startswith("range-"):
        if v.isempty:
            raise ValueError("an empty range has no representation in the WIT")
        conv: Any = str if kind == "range-decimal" else int
        lo = None if v.lower is None else (conv(v.lower), "inclusive" if v.lower_inc else "exclusive")
        hi = None if v.upper is None else (conv(v.upper), "inclusive" if v.upper_inc else "exclusive")
        return (lo, hi)
    if kind.startswith("array-"):
        if any(isinstance(x, list) for x in v):
            raise ValueError("multi-dimensional arrays are not supported")
        conv = {"array-int32": int, "array-int64": int, "array-decimal": str, "array-str": str}[kind]
        return [None if x is None else conv(x) for x in v]
    if kind == "interval":
        return {"micros": v.micros, "days": v.days, "months": v.months}
    raise ValueError(f"no conversion for {kind}")
