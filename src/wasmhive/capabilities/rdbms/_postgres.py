"""PostgreSQL for guests, with psycopg 3: addresses, connecting, statements, errors.

Three interface versions share this driver: `fermyon:spin/postgres@2.0.0` (rdbms-types: integers,
floats, strings, bytes), `spin:postgres/postgres@3.0.0` (+ date, time, datetime, timestamp) and
`@4.0.0` (+ uuid, jsonb, decimal, ranges, arrays, interval, structured errors); their values are
`_pg_values`'s. Statements use PostgreSQL's own `$1, $2` placeholders (psycopg's `RawCursor`), results are read in
binary format (intervals keep their months, jsonb its text), and the session runs in UTC (the WIT's
date-times are UTC).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import struct
from typing import Any

from ._errors import MAX_RESULT_BYTES, Cancelled, RdbmsError
from ._pg_values import PG_OIDS, Interval, Json, param, row_set

__all__ = ["PgSession", "Session", "connect", "conninfo", "db_error", "parse_address"]

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
            return Json(bytes(data))

    class JsonbLoader(RawJsonLoader):
        def load(self, data: Any) -> Any:
            raw = bytes(data)
            return Json(raw[1:] if raw[:1] == b"\x01" else raw)  # jsonb's binary form: version 1 + text

    class IntervalLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> Any:
            micros, days, months = struct.unpack("!qii", bytes(data))
            return Interval(micros, days, months)

    class IntervalDumper(Dumper):
        oid = PG_OIDS["interval"]

        def dump(self, obj: Any) -> bytes:
            return f"{obj.months} mons {obj.days} days {obj.micros} microseconds".encode()

    class JsonbDumper(Dumper):
        oid = PG_OIDS["jsonb"]

        def dump(self, obj: Any) -> bytes:
            return bytes(obj)

    a = conn.adapters
    a.register_loader(PG_OIDS["json"], RawJsonLoader)
    a.register_loader(PG_OIDS["jsonb"], JsonbLoader)
    a.register_loader(PG_OIDS["interval"], IntervalLoader)
    a.register_dumper(Interval, IntervalDumper)
    a.register_dumper(Json, JsonbDumper)


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
