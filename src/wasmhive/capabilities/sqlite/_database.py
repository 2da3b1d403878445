"""One SQLite database a guest may open, and the connection behind each guest `connection` handle.

Every guest `open` gets its own `sqlite3` connection, closed when the handle is dropped or the instance
ends: a transaction a guest leaves open is rolled back then (never leaks into another request), and
`last-insert-rowid`/`changes` are exactly the handle's own. Several processes (`up --workers N`) share a
file safely: WAL journal and a busy timeout bounded by the request's deadline.

A guest runs arbitrary SQL, so the connection is confined: an authorizer refuses `ATTACH`/`DETACH`
(which `VACUUM INTO` also goes through) so no statement can reach a file other than its database, and a
progress handler ends any statement that runs past the request's deadline.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MAX_RESULT_BYTES", "Database", "QueryResult", "SqlConnection", "SqliteError", "StatementTimeout"]

# A result the host would copy into the guest; a guest asking for more gets `io`, not a host out of memory.
MAX_RESULT_BYTES = 64 * 1024 * 1024
# How long a statement may wait for another writer's lock (and never past the request's deadline).
BUSY_TIMEOUT = 5.0
_PROGRESS_STEPS = 1000  # SQLite VM instructions between deadline checks (~tens of µs)
_DENIED_ACTIONS = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})


class SqliteError(Exception):
    """A failure the guest sees as the WIT's `error` case `tag` (`io` carries the message)."""

    def __init__(self, tag: str, message: str = "") -> None:
        super().__init__(message or tag)
        self.tag = tag
        self.message = message


class StatementTimeout(Exception):
    """A statement was interrupted at the request's deadline."""


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    # `ATTACH ''` (a private temporary database, as plain VACUUM uses) touches no file: allowed.
    if action in _DENIED_ACTIONS and not (action == sqlite3.SQLITE_ATTACH and arg1 in ("", None)):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@dataclass
class QueryResult:
    """The WIT's `query-result`: column names and rows of values (int, float, str, bytes or None)."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


class Database:
    """A named SQLite file; `connect()` opens a confined connection to it."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            # WAL is a property of the file: set once here, every later connection (any process) uses it.
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()

    def connect(self) -> SqlConnection:
        """A new connection (raises `SqliteError("io", ...)` when the file cannot be opened)."""
        try:
            return SqlConnection(self)
        except sqlite3.Error as e:
            raise SqliteError("io", f"cannot open database {self.name!r}: {e}") from None

    def run_script(self, sql: str) -> None:
        """Run `sql` (any number of statements) in autocommit mode; `sqlite3.Error` on failure."""
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            conn.executescript(sql)
        finally:
            conn.close()


class SqlConnection:
    """One guest connection handle: statements with parameters, bounded by a deadline."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn = sqlite3.connect(db.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False,
                                     cached_statements=32)
        self._conn.set_authorizer(_authorize)
        self._conn.set_progress_handler(self._progress, _PROGRESS_STEPS)
        self._deadline: float | None = None
        self._busy_ms = int(BUSY_TIMEOUT * 1000)
        self.last_rowid = 0  # Spin 3's `last-insert-rowid`: 0 until this handle inserts
        self.changes = 0  # Spin 3's `changes`: rows changed by this handle's latest INSERT/UPDATE/DELETE

    def _progress(self) -> int:
        # Non-zero interrupts the running statement (sqlite3 raises OperationalError "interrupted").
        return 1 if self._deadline is not None and time.monotonic() >= self._deadline else 0

    def execute(self, sql: str, params: list[Any], deadline: float | None) -> QueryResult:
        """Run one statement; `SqliteError` with the WIT's case, `StatementTimeout` past `deadline`."""
        self._deadline = deadline
        if deadline is not None:
            # A lock wait is not a VM step: the busy timeout itself must end by the deadline.
            busy = max(1, min(int(BUSY_TIMEOUT * 1000), int((deadline - time.monotonic()) * 1000)))
            if busy != self._busy_ms:
                self._conn.execute(f"PRAGMA busy_timeout={busy}")
                self._busy_ms = busy
        try:
            cur = self._conn.execute(sql, params)
            columns = [d[0] for d in cur.description] if cur.description else []
            rows, size = [], 0
            for row in cur:
                rows.append(list(row))
                size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
                if size > MAX_RESULT_BYTES:
                    cur.close()
                    raise SqliteError("io", f"query result larger than {MAX_RESULT_BYTES >> 20} MiB")
        except sqlite3.Error as e:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                raise StatementTimeout(str(e)) from None
            raise _error(e) from None
        except (ValueError, OverflowError) as e:  # e.g. a string with NUL where SQLite wants none
            raise SqliteError("io", str(e)) from None
        finally:
            self._deadline = None
        # The connection is this handle's alone, so its counters are exactly the WIT's.
        self.last_rowid = int(cur.lastrowid or 0)
        if cur.rowcount >= 0:  # -1 for anything but INSERT/UPDATE/DELETE: keep the previous count
            self.changes = cur.rowcount
        return QueryResult(columns, rows)

    def close(self) -> None:
        """Close (rolling back any transaction the guest left open)."""
        self._conn.close()


def _error(e: sqlite3.Error) -> SqliteError:
    name = getattr(e, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return SqliteError("database-full")
    return SqliteError("io", str(e))
