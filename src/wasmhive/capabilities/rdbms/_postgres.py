"""PostgreSQL for guests, with psycopg 3: connecting, statements, and the WIT's value types per version.

Three interface versions share this driver: `fermyon:spin/postgres@2.0.0` (rdbms-types: integers,
floats, strings, bytes), `spin:postgres/postgres@3.0.0` (+ date, time, datetime, timestamp) and
`@4.0.0` (+ uuid, jsonb, decimal, ranges, arrays, interval, structured errors). A value whose type the
guest's version does not define comes back as `unsupported` and its column as `other`.

Statements use PostgreSQL's own `$1, $2` placeholders (psycopg's `RawCursor`), results are read in
binary format (intervals keep their months, jsonb its text), and the session runs in UTC (the WIT's
date-times are UTC).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import socket
import struct
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from wasmtime.component import Record, Variant

from ._errors import MAX_RESULT_BYTES, Cancelled, RdbmsError

__all__ = ["PG_OIDS", "PgSession", "Session", "connect", "conninfo", "db_error", "param", "parse_address", "row_set"]

# Keywords that make libpq read files on the host (passwords, keys, service definitions), use the host's
# own credentials, or pick the address itself: never the guest's to set.
_FORBIDDEN = frozenset({"passfile", "service", "servicefile", "sslcert", "sslkey", "sslrootcert", "sslcrl",
                        "sslcrldir", "sslpassword", "sslcertmode", "hostaddr", "krbsrvname", "gssdelegation",
                        "gssencmode", "gsslib", "require_auth", "requirepeer"})
# What the host sets instead, so that libpq never lends the guest the host's credentials: no password
# file (~/.pgpass), no client certificate (~/.postgresql/), no Kerberos/SSPI, and an explicit (empty)
# password so that neither PGPASSWORD nor a PGSERVICE entry of the host's environment fills it in.
_NO_FILE = "/nonexistent/wasmhive/no-pgpass"
_HOST_SET = {"passfile": _NO_FILE, "sslcertmode": "disable", "gssencmode": "disable", "require_auth": "!gss,!sspi"}

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


def parse_address(address: str) -> tuple[str, int, dict[str, str]]:
    """(host, port, libpq keywords) from a `postgres://` URL or a `host=... user=...` string."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(address).items() if v is not None}
    except Exception as e:
        raise RdbmsError("connection-failed", f"invalid address: {e}") from None
    bad = sorted(set(params) & _FORBIDDEN)
    if bad:
        raise RdbmsError("connection-failed", f"address keyword(s) not allowed: {', '.join(bad)}")
    host, port = params.get("host", ""), params.get("port", "5432")
    if "," in host or "," in port:
        raise RdbmsError("connection-failed", "an address with several hosts is not supported")
    if not host:
        raise RdbmsError("connection-failed", "the address names no host (a local socket is not allowed)")
    try:
        return host, int(port), params
    except ValueError:
        raise RdbmsError("connection-failed", f"invalid port {port!r}") from None


def conninfo(params: dict[str, str], ip: str) -> str:
    """The libpq connection string for the guest's `params` at the checked address `ip`."""
    from psycopg.conninfo import make_conninfo

    options = (params.get("options", "") + " -c TimeZone=UTC").strip()
    return make_conninfo("", **{"password": "", **params, **_HOST_SET, "hostaddr": ip, "options": options})


def connect(params: dict[str, str], ip: str, timeout: float) -> Any:
    """A new autocommit psycopg connection to `ip` (already checked), in UTC, with our value adapters."""
    import psycopg

    # libpq counts connect_timeout in whole seconds (at least 2); the caller bounds it by the deadline.
    seconds = max(2, math.ceil(timeout))
    try:
        conn = psycopg.connect(conninfo(params, ip), connect_timeout=seconds, autocommit=True)
    except psycopg.Error as e:
        raise RdbmsError("connection-failed", str(e).strip() or type(e).__name__) from None
    _adapt(conn)
    return conn


def _adapt(conn: Any) -> None:
    # jsonb/json results as their JSON text (not parsed), intervals with their months kept.
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format

    class RawJsonLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> Any:
            return _Json(bytes(data))

    class JsonbLoader(RawJsonLoader):
        def load(self, data: Any) -> Any:
            raw = bytes(data)
            return _Json(raw[1:] if raw[:1] == b"\x01" else raw)  # jsonb's binary form: version 1 + text

    class IntervalLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> Any:
            micros, days, months = struct.unpack("!qii", bytes(data))
            return _Interval(micros, days, months)

    class IntervalDumper(Dumper):
        oid = _O["interval"]

        def dump(self, obj: Any) -> bytes:
            return f"{obj.months} mons {obj.days} days {obj.micros} microseconds".encode()

    class JsonbDumper(Dumper):
        oid = _O["jsonb"]

        def dump(self, obj: Any) -> bytes:
            return bytes(obj)

    a = conn.adapters
    a.register_loader(_O["json"], RawJsonLoader)
    a.register_loader(_O["jsonb"], JsonbLoader)
    a.register_loader(_O["interval"], IntervalLoader)
    a.register_dumper(_Interval, IntervalDumper)
    a.register_dumper(_Json, JsonbDumper)


class _Json(bytes):
    """JSON text, kept as the server sent it (and sent as jsonb)."""


class _Interval:
    __slots__ = ("days", "micros", "months")

    def __init__(self, micros: int, days: int, months: int) -> None:
        self.micros, self.days, self.months = micros, days, months


# -- parameters (WIT → psycopg) ---------------------------------------------------------------------
def param(v: Any, version: int) -> Any:
    """The psycopg value for one `parameter-value` (a tagged `Variant`); `bad-parameter` when it cannot be."""
    from psycopg.types import range as pr
    from psycopg.types.numeric import Float4, Float8, Int2, Int4, Int8

    tag, p = v.tag, v.payload
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
            return _Json(bytes(p))
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
            return _Interval(p.micros, p.days, p.months)
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
def row_set(description: Any, rows: list[tuple[Any, ...]], version: int, type_name: Any) -> Record:
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
    out = Record()
    out.columns = columns  # type: ignore[attr-defined]
    out.rows = [[_value(v, types.get(oid), version) for v, oid in zip(row, oids, strict=True)]  # type: ignore[attr-defined]
                for row in rows]
    return out


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


def db_error(e: Exception) -> RdbmsError:
    """A psycopg error raised by a statement, as `query-failed` (with v4's structured fields)."""
    diag = getattr(e, "diag", None)
    text = str(e).strip() or type(e).__name__
    if diag is None or getattr(e, "sqlstate", None) is None:
        return RdbmsError("query-failed", text)
    fields = {"severity": diag.severity or "", "code": e.sqlstate or "",  # type: ignore[attr-defined]
              "message": diag.message_primary or text}
    if diag.message_detail:
        fields["detail"] = diag.message_detail
    for name in ("message_hint", "schema_name", "table_name", "column_name", "constraint_name", "datatype_name",
                 "context", "statement_position"):
        value = getattr(diag, name, None)
        if value:
            fields[name.removeprefix("message_")] = str(value)
    return RdbmsError("query-failed", text, fields)


def _check_size(res: Any) -> None:
    """`query-failed` when a result is too big to hand to a guest (checked before any value is loaded;
    libpq has already buffered it: PostgreSQL's protocol has no cheaper way to learn a result's size)."""
    rows, cols = res.ntuples, res.nfields
    if rows * cols * 8 > MAX_RESULT_BYTES:
        raise RdbmsError("query-failed", f"the result ({rows} rows) is larger than {MAX_RESULT_BYTES >> 20} MiB")
    total = 0
    for r in range(rows):
        for c in range(cols):
            value = res.get_value(r, c)  # the cell's bytes (psycopg exposes no PQgetlength)
            total += 8 if value is None else max(len(value), 8)
        if total > MAX_RESULT_BYTES:
            raise RdbmsError("query-failed", f"the result is larger than {MAX_RESULT_BYTES >> 20} MiB")


# -- one guest connection ---------------------------------------------------------------------------
class PgSession:
    """A connection a guest opened (`connection.open`): statements run on it until the guest drops it."""

    kind = "postgres"

    def __init__(self, conn: Any, key: str, version: int) -> None:
        self.conn = conn
        self.key = key
        self.version = version

    def cancel(self) -> None:
        """Ask the server to end the running statement (called from the watchdog thread); if it cannot
        be asked (unreachable), cut the connection so that the blocked call returns anyway."""
        try:
            self.conn.cancel_safe(timeout=2)
        except Exception:
            self.abort(self.conn)
            raise

    def run(self, statement: str, params: list[Any], guard: Any, *, rows: bool) -> Any:
        """Run one statement under `guard` (a started `Watchdog.guard`): a `row-set` when `rows`, else
        the number of rows affected."""
        import psycopg

        args = [param(p, self.version) for p in params]
        try:
            with psycopg.RawCursor(self.conn) as cur:
                cur.execute(statement, args or None, binary=True)
                if not rows:
                    return max(cur.rowcount, 0)
                description = cur.description
                if not description:
                    return row_set([], [], self.version, str)
                _check_size(cur.pgresult)
                try:
                    fetched = cur.fetchall()
                except psycopg.DataError as e:
                    raise RdbmsError("value-conversion-failed", str(e).strip()) from None
                names = self.conn.adapters.types
                return row_set(description, fetched, self.version,
                               lambda oid: getattr(names.get(oid), "name", None) or str(oid))
        except psycopg.Error as e:
            if guard.fired:
                raise Cancelled from None
            raise db_error(e) from None

    def reusable(self) -> bool:
        """Whether the connection can serve another request (a transaction left open is rolled back)."""
        from psycopg.pq import TransactionStatus

        c = self.conn
        if c.closed or c.broken:
            return False
        status = c.info.transaction_status
        if status == TransactionStatus.IDLE:
            return True
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            try:
                c.rollback()
                return bool(c.info.transaction_status == TransactionStatus.IDLE)
            except Exception:
                return False
        return False

    @staticmethod
    def abort(conn: Any) -> None:
        """Shut the connection's socket down: a call blocked on it returns at once (with an error)."""
        with contextlib.suppress(OSError, ValueError), socket.socket(fileno=os.dup(conn.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def alive(conn: Any) -> bool:
        """A round trip on an idle pooled connection (the server may have restarted meanwhile)."""
        try:
            conn.execute("SELECT 1")
            return True
        except Exception:
            return False

Session = PgSession
