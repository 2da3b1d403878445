"""The SQLite capability: Spin's `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0`.

Deny by default, checked twice: the databases a component lists in `sqlite_databases` are checked at
start-up (`open_databases`) and again on every `open` (`access-denied` for any other name, as Spin).
Every statement ends by the request's deadline: a statement still running then is interrupted and the
guest is ended as if its own code had run too long (504).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wasmtime.component import ResourceType

from ...appconfig import AppConfig
from ...component._restypes import allocate
from ...component._values import Variant
from ...wasi import DeadlineHit, HostState, current
from ...wasi._calls import observed
from .._factor import StateOf
from ._config import SqliteApp, open_databases
from ._database import Database, SqlConnection, SqliteError, StatementTimeout

__all__ = ["INTERFACES", "MAX_CONNECTIONS", "SqliteFactor", "SqliteInstance"]

log = logging.getLogger("wasmhive.capabilities.sqlite")

SPIN2 = "fermyon:spin/sqlite@2.0.0"
SPIN3 = "spin:sqlite/sqlite@3.0.0"
INTERFACES = (SPIN2, SPIN3)

# Host resource type ids, from the one id space of component/_restypes.py.
RT_SPIN2, RT_SPIN3 = (allocate(f"{i}#connection") for i in ("fermyon:spin/sqlite@2.0.0", "spin:sqlite/sqlite@3.0.0"))
MAX_CONNECTIONS = 16  # open connections per instance (each is a file descriptor and a page cache)


@dataclass
class SqliteInstance:
    """One instance's view: the databases it may open and its open connections (rep -> connection)."""

    allowed: dict[str, Database]
    handles: dict[int, SqlConnection] = field(default_factory=dict)
    reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def open(self, name: str) -> int:
        """A new connection's rep; `SqliteError` with the WIT's case otherwise."""
        db = self.allowed.get(name)
        if db is None:
            # Spin's order: a name the component was not granted is `access-denied` whether it exists or not.
            raise SqliteError("access-denied")
        if len(self.handles) >= MAX_CONNECTIONS:
            raise SqliteError("io", f"more than {MAX_CONNECTIONS} open connections in one instance")
        conn = db.connect()
        rep = next(self.reps)
        self.handles[rep] = conn
        return rep

    def connection(self, rep: int) -> SqlConnection:
        """The open connection `rep`, or `invalid-connection`."""
        conn = self.handles.get(rep)
        if conn is None:
            raise SqliteError("invalid-connection")
        return conn

    def drop(self, rep: int) -> None:
        conn = self.handles.pop(rep, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close every connection the guest left open (open transactions roll back)."""
        handles, self.handles = self.handles, {}
        for conn in handles.values():
            with contextlib.suppress(Exception):
                conn.close()


def _sqlite_error(e: SqliteError) -> Variant:
    """The WIT `error` for `e` (only `io` carries a message)."""
    return Variant(e.tag, e.message) if e.tag == "io" else Variant(e.tag)


def _request_state() -> HostState | None:
    """The WASI state of the calling instance (its deadline), or None outside a request (e.g. a harness
    that links the capabilities alone): then statements run without a deadline."""
    try:
        return current()
    except Exception:
        return None


# The WIT's `value` cases for the Python values sqlite3 returns (bool never comes back from SQLite).
_CASES: dict[type, str] = {int: "integer", float: "real", str: "text", bytes: "blob"}


def _wit_value(x: Any) -> Variant:
    """A column value from sqlite3 as the WIT's `value`."""
    return Variant("null") if x is None else Variant(_CASES[type(x)], x)


class SqliteFactor:
    """SQLite databases for guests; see the module docstring."""

    name = "sqlite"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> SqliteApp:
        return open_databases(app)

    def prepare(self, app_state: SqliteApp, component_id: str) -> SqliteInstance:
        names = app_state.allowed.get(component_id, frozenset())
        return SqliteInstance({n: app_state.databases[n] for n in names if n in app_state.databases})

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define both SQLite interfaces on a component linker's root instance.

        Values cross as the WIT's `value` variant (`Variant("integer", 1)`, ..., `Variant("null")`);
        errors are `err(Variant(<case>))` (`ResultError`); a statement past the deadline traps (504).
        """
        from ...component._hostcall import define_func, define_resource

        hr = {rt: ResourceType.host(rt) for rt in (RT_SPIN2, RT_SPIN3)}

        def inst() -> SqliteInstance:
            state: SqliteInstance = state_of().states[self.name]
            return state

        def call(op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            # WIT errors as the interface's variant, never a Python exception inside wasmtime; a deadline
            # is the one deliberate trap.
            def timed(*args: Any) -> Any:
                try:
                    return fn(*args)
                except StatementTimeout:
                    state = _request_state()
                    if state is not None:
                        state.deadline_hit = True  # the trigger answers 504, as for an interrupted guest
                    raise DeadlineHit("an SQLite statement ran past the request's deadline") from None
            return observed("sqlite", op, timed, {SqliteError: _sqlite_error}, internal="io")

        def dtor(rep: int) -> None:
            with contextlib.suppress(Exception):  # the request may already be gone
                inst().drop(rep)

        def open_(name: str) -> Any:
            return inst().open(name)

        def execute(rep: int, statement: str, params: list[Any]) -> Any:
            conn = inst().connection(rep)
            state = _request_state()
            deadline = state.deadline if state is not None else None
            res = conn.execute(statement, [p.value for p in params], deadline)  # `null` carries None
            return {"columns": res.columns, "rows": [{"values": [_wit_value(x) for x in row]} for row in res.rows]}

        def last_insert_rowid(rep: int) -> int:
            conn = inst().handles.get(rep)
            return conn.last_rowid if conn is not None else 0

        def changes(rep: int) -> int:
            conn = inst().handles.get(rep)
            return conn.changes if conn is not None else 0

        for iface, rt in ((SPIN2, RT_SPIN2), (SPIN3, RT_SPIN3)):
            with root.add_instance(iface) as li:
                define_resource(li, "connection", rt, dtor)
                define_func(li, "[static]connection.open", call("open", open_), host_resources=hr)
                define_func(li, "[method]connection.execute", call("execute", execute), host_resources=hr)
                if iface == SPIN3:
                    # Plain results (no error case): a stale handle reads as a fresh connection, 0.
                    define_func(li, "[method]connection.last-insert-rowid", last_insert_rowid, host_resources=hr)
                    define_func(li, "[method]connection.changes", changes, host_resources=hr)
