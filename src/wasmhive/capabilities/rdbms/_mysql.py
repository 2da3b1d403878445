"""MySQL (and MariaDB) for guests, with PyMySQL: `fermyon:spin/mysql@2.0.0` over `rdbms-types@2.0.0`.

Statements use MySQL's `?` placeholders; the parameters are bound on the host as escaped literals
(PyMySQL's escaping, which follows the server's `NO_BACKSLASH_ESCAPES` mode), so a parameter is never
SQL. Results are read as text and converted here by column type, so DECIMAL and date/time columns keep
MySQL's own text (`rdbms-types` has no such types).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any
from urllib.parse import unquote, urlsplit

from ...component._values import Variant
from ._errors import MAX_RESULT_BYTES, Cancelled, RdbmsError

__all__ = ["MySession", "Session", "bind", "connect", "parse_address"]

_IN_TRANS = 1  # SERVER_STATUS_IN_TRANS
_UNSIGNED = 32  # column flag UNSIGNED
_BINARY_CHARSET = 63

# MySQL column type codes (FIELD_TYPE) -> (signed case, unsigned case) of `db-data-type`.
_INTS = {1: ("int8", "uint8"), 2: ("int16", "uint16"), 9: ("int32", "uint32"), 3: ("int32", "uint32"),
         8: ("int64", "uint64"), 13: ("uint16", "uint16")}  # 13: YEAR (1901..2155)
_FLOATS = {4: "floating32", 5: "floating64"}
_TEXTS = {15, 253, 254, 249, 250, 251, 252, 247, 248, 245}  # varchar, strings, blobs, enum, set, json
_AS_TEXT = {0, 246, 7, 10, 11, 12, 14}  # decimal, newdecimal, timestamp, date, time, datetime, newdate
_BIT = 16


def parse_address(address: str) -> tuple[str, int, dict[str, str]]:
    """(host, port, connection keywords) from `mysql://user:password@host:port/database`."""
    try:
        url = urlsplit(address)
        port = url.port or 3306
    except ValueError as e:
        raise RdbmsError("connection-failed", f"invalid address: {e}") from None
    if url.scheme != "mysql" or not url.hostname:
        raise RdbmsError("connection-failed", "the address must be mysql://user:password@host[:port]/database")
    params = {"port": str(port), "user": unquote(url.username or ""), "password": unquote(url.password or ""),
              "database": unquote(url.path.lstrip("/"))}
    return url.hostname, port, params


def _encoders() -> dict[Any, Any]:
    import pymysql

    # Only the encoders: with no decoders every value arrives as text (bytes for binary columns).
    return {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


def connect(params: dict[str, str], ip: str, timeout: float) -> Any:
    """A new autocommit PyMySQL connection to `ip` (already checked); `LOAD DATA LOCAL` stays off."""
    import pymysql

    # connect_timeout bounds only the TCP connect: the handshake's reads and writes need their own bound
    # (a server that accepts and never greets), lifted afterwards (statements have the watchdog).
    t = max(timeout, 0.1)
    try:
        conn = pymysql.connect(host=ip, port=int(params["port"]), user=params["user"], password=params["password"],
                               database=params["database"] or None, connect_timeout=t, read_timeout=t,
                               write_timeout=t, autocommit=True, charset="utf8mb4", conv=_encoders(),
                               local_infile=False)
    except pymysql.MySQLError as e:
        raise RdbmsError("connection-failed", _text(e)) from None
    conn._read_timeout = conn._write_timeout = None  # PyMySQL applies these before every read/write
    return conn


def _text(e: Exception) -> str:
    if len(e.args) == 2 and isinstance(e.args[0], int):
        return f"{e.args[1]} (MySQL error {e.args[0]})"
    return str(e) or type(e).__name__


# -- parameters -------------------------------------------------------------------------------------
def literal(conn: Any, v: Any) -> str:
    """One `parameter-value` as an escaped SQL literal."""
    tag, p = v.tag, v.value
    if tag == "db-null":
        return "NULL"
    if tag == "boolean":
        return "TRUE" if p else "FALSE"
    if tag.startswith(("int", "uint")):
        return str(int(p))
    if tag in ("floating32", "floating64"):
        if p != p or p in (float("inf"), float("-inf")):
            raise RdbmsError("bad-parameter", f"{tag}: MySQL has no NaN or infinity")
        return repr(float(p))
    if tag == "str":
        return str(conn.escape(str(p)))
    if tag == "binary":
        return str(conn.escape(bytes(p)))
    raise RdbmsError("bad-parameter", f"parameter type {tag} is not supported")


def bind(statement: str, literals: list[str]) -> str:
    """`statement` with each `?` placeholder (outside quotes and comments) replaced by its literal."""
    out: list[str] = []
    i, n, used = 0, len(statement), 0
    while i < n:
        c = statement[i]
        if c in "'\"`":
            j = i + 1
            while j < n:
                if statement[j] == "\\" and c != "`":
                    j += 2
                    continue
                if statement[j] == c:
                    if j + 1 < n and statement[j + 1] == c:  # a doubled quote inside the string
                        j += 2
                        continue
                    break
                j += 1
            out.append(statement[i:j + 1])
            i = j + 1
        elif c == "#" or (statement.startswith("--", i) and (i + 2 == n or statement[i + 2] in " \t\r\n")):
            j = statement.find("\n", i)
            j = n if j < 0 else j
            out.append(statement[i:j])
            i = j
        elif statement.startswith("/*", i):
            j = statement.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(statement[i:j])
            i = j
        elif c == "?":
            if used >= len(literals):
                raise RdbmsError("bad-parameter", f"the statement has more placeholders than the "
                                                  f"{len(literals)} parameter(s) given")
            out.append(literals[used])
            used += 1
            i += 1
        else:
            out.append(c)
            i += 1
    if used != len(literals):
        raise RdbmsError("bad-parameter", f"{len(literals)} parameter(s) given for {used} placeholder(s)")
    return "".join(out)


# -- results ----------------------------------------------------------------------------------------
def _column_type(field: Any) -> str:
    code = field.type_code
    if code in _INTS:
        return _INTS[code][1 if field.flags & _UNSIGNED else 0]
    if code in _FLOATS:
        return _FLOATS[code]
    if code in _TEXTS:
        return "binary" if field.charsetnr == _BINARY_CHARSET and code != 245 else "str"
    if code in _AS_TEXT:
        return "str"
    if code == _BIT:
        return "binary"
    return "other"


def _value(v: Any, kind: str) -> Variant:
    if v is None:
        return Variant("db-null")
    try:
        if kind in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
            return Variant(kind, int(v))
        if kind in ("floating32", "floating64"):
            return Variant(kind, float(v))
        if kind == "str":
            return Variant("str", v if isinstance(v, str) else bytes(v).decode("utf-8"))
        if kind == "binary":
            return Variant("binary", v if isinstance(v, bytes) else str(v).encode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise RdbmsError("value-conversion-failed", f"{kind}: {e}") from None
    return Variant("unsupported")


def row_set(fields: list[Any], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The `row-set` of a result: each column's `db-data-type` from its MySQL type and flags."""
    kinds = [_column_type(f) for f in fields]
    return {"columns": [{"name": f.name, "data-type": k} for f, k in zip(fields, kinds, strict=True)],
            "rows": [[_value(v, k) for v, k in zip(row, kinds, strict=True)] for row in rows]}


# -- one guest connection ---------------------------------------------------------------------------
class MySession:
    """A connection a guest opened (`connection.open`)."""

    kind = "mysql"

    def __init__(self, conn: Any, key: Any, version: int) -> None:
        self.conn = conn
        self.key = key
        self.version = version
        self.thread_id = conn.thread_id()
        self.broken = False  # cancelled at a deadline or lost: never back to the pool

    def cancel(self) -> None:
        """End the running statement (from the watchdog thread): kill it on the server, and shut the
        socket so that the blocked read returns even if the server does not answer."""
        import pymysql

        self.broken = True
        ip, _, params = self.key
        p = dict(params)
        try:
            killer = pymysql.connect(host=ip, port=int(p["port"]), user=p["user"], password=p["password"],
                                     connect_timeout=2, autocommit=True)
            try:
                with killer.cursor() as cur:
                    cur.execute(f"KILL QUERY {int(self.thread_id)}")
            finally:
                killer.close()
        finally:
            self.abort(self.conn)

    @staticmethod
    def abort(conn: Any) -> None:
        """Shut the connection's socket down: a call blocked on it returns at once (with an error)."""
        sock = getattr(conn, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def run(self, statement: str, params: list[Any], guard: Any, *, rows: bool) -> Any:
        """Run one statement under `guard`: a `row-set` when `rows`, else nothing (the WIT's `execute`)."""
        import pymysql

        sql = bind(statement, [literal(self.conn, p) for p in params])
        # Unbuffered: rows are read as they come, so a result too big for a guest is refused early.
        cur = self.conn.cursor(pymysql.cursors.SSCursor)
        try:
            cur.execute(sql)
            if not rows:
                return None
            fields = list(cur._result.fields) if cur.description else []
            return row_set(fields, self._read(cur) if fields else [])
        except pymysql.MySQLError as e:
            if guard.fired:
                raise Cancelled from None
            if e.args and isinstance(e.args[0], int) and e.args[0] >= 2000:  # a client error: connection lost
                self.broken = True
            raise RdbmsError("query-failed", _text(e)) from None
        finally:
            if self.broken:  # closing the cursor would read the rest of the result first
                with contextlib.suppress(Exception):
                    self.conn.close()
            with contextlib.suppress(Exception):
                cur.close()

    def _read(self, cur: Any) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        total = 0
        while batch := cur.fetchmany(256):
            for row in batch:
                total += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
            out.extend(batch)
            if total > MAX_RESULT_BYTES:
                self.broken = True  # the rest of the result is still on the wire: never reuse this one
                raise RdbmsError("query-failed", f"the result is larger than {MAX_RESULT_BYTES >> 20} MiB")
        return out

    def reusable(self) -> bool:
        """Whether the connection can serve another request (an open transaction is rolled back)."""
        c = self.conn
        if self.broken or not c.open:
            return False
        if c.server_status & _IN_TRANS:
            try:
                c.rollback()
            except Exception:
                return False
        return True

    @staticmethod
    def alive(conn: Any) -> bool:
        try:
            conn.ping(reconnect=False)
            return True
        except Exception:
            return False

Session = MySession
