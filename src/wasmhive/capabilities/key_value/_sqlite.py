"""The embedded key-value backend: one SQLite file (WAL) under the app's `.wasmhive/` state dir.

Durability: each write is its own committed transaction before the guest's call returns. With WAL and
`synchronous=NORMAL` (the default) a committed write survives the server process being killed (the
WAL is in the OS page cache); `synchronous = "full"` in the runtime config also survives power loss
at the cost of an fsync per write. The table layout is Spin's (`spin_key_value(store, key, value)`),
so a Spin app's `.spin/sqlite_key_value.db` can be used as-is.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ._backend import KeyValueError

__all__ = ["SqliteDatabase", "SqliteStore"]

T = TypeVar("T")

_SCHEMA = """CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key)) WITHOUT ROWID"""


class SqliteDatabase:
    """One SQLite file shared by every store label configured on it; a connection per thread."""

    def __init__(self, path: Path, *, synchronous: str = "normal") -> None:
        if synchronous.lower() not in ("normal", "full", "extra"):
            raise ValueError(f"synchronous must be normal, full or extra, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            conn = self._connect()
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode (isolation_level=None): every statement commits before execute() returns.
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        self._local.conn = conn
        self._all.append(conn)
        return conn

    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                conn = self._connect()
        return conn

    def store(self, label: str) -> SqliteStore:
        """The store named `label` in this file."""
        return SqliteStore(self, label)

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                c.close()
            self._all.clear()
        self._local = threading.local()


class SqliteStore:
    """A key-value store (one label) in a `SqliteDatabase`."""

    def __init__(self, db: SqliteDatabase, label: str) -> None:
        self.db = db
        self.label = label

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.db.conn().execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise KeyValueError(f"sqlite key-value store {self.label!r}: {e}") from None

    def get(self, key: str) -> bytes | None:
        rows = self._run("SELECT value FROM spin_key_value WHERE store=? AND key=?", (self.label, key))
        return bytes(rows[0][0]) if rows else None

    def set(self, key: str, value: bytes) -> None:
        self._run("INSERT INTO spin_key_value(store, key, value) VALUES (?, ?, ?) "
                  "ON CONFLICT(store, key) DO UPDATE SET value=excluded.value", (self.label, key, bytes(value)))

    def delete(self, key: str) -> None:
        self._run("DELETE FROM spin_key_value WHERE store=? AND key=?", (self.label, key))

    def exists(self, key: str) -> bool:
        return bool(self._run("SELECT 1 FROM spin_key_value WHERE store=? AND key=?", (self.label, key)))

    def keys(self) -> list[str]:
        return [str(r[0]) for r in self._run("SELECT key FROM spin_key_value WHERE store=? ORDER BY key",
                                             (self.label,))]

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self.get(k) for k in keys]

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self.db.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.Error as e:
            raise KeyValueError(f"sqlite key-value store {self.label!r}: {e}") from None

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO spin_key_value(store, key, value) VALUES (?, ?, ?) "
                             "ON CONFLICT(store, key) DO UPDATE SET value=excluded.value",
                             [(self.label, k, bytes(v)) for k, v in items])
        self._tx(run)

    def delete_many(self, keys: list[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM spin_key_value WHERE store=? AND key=?", [(self.label, k) for k in keys])
        self._tx(run)

    def increment(self, key: str, delta: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM spin_key_value WHERE store=? AND key=?",
                               (self.label, key)).fetchone()
            try:
                current = int(bytes(row[0]).decode("ascii")) if row else 0
            except ValueError:
                raise KeyValueError(f"value of {key!r} is not a decimal integer") from None
            new = current + delta
            conn.execute("INSERT INTO spin_key_value(store, key, value) VALUES (?, ?, ?) "
                         "ON CONFLICT(store, key) DO UPDATE SET value=excluded.value",
                         (self.label, key, str(new).encode()))
            return new
        return self._tx(run)

    def compare_and_swap(self, key: str, expected: bytes | None, value: bytes) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT value FROM spin_key_value WHERE store=? AND key=?",
                               (self.label, key)).fetchone()
            if (bytes(row[0]) if row else None) != expected:
                return False
            conn.execute("INSERT INTO spin_key_value(store, key, value) VALUES (?, ?, ?) "
                         "ON CONFLICT(store, key) DO UPDATE SET value=excluded.value", (self.label, key, bytes(value)))
            return True
        return self._tx(run)

    def close(self) -> None:
        """Stores share their database; the database is closed by its owner."""
