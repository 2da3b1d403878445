"""The rdbms capability: Spin's outbound PostgreSQL and MySQL interfaces for guests.

No manifest key grants a database: the address the guest opens must be allowed by the component's
`allowed_outbound_hosts` (`postgres://host:port`, `mysql://host:port`), checked on every `open` against
the name and the resolved address (`connection-failed` otherwise). Connections are pooled per app and
per address; a guest's connection goes back to the pool when the guest drops it or its request ends.
Every statement is bounded by the request deadline (`Watchdog`); one that reaches it ends the guest
like an epoch interrupt (the trigger answers 504).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from wasmtime.component import ResourceType

from ...appconfig import AppConfig
from ...component._restypes import allocate
from ...component._values import Variant
from ...wasi._calls import Errors, observed
from .._factor import StateOf
from ..outbound_http import OutboundPolicy
from ._address import checked_address
from ._errors import Cancelled, RdbmsError
from ._pool import Pool
from ._watchdog import Watchdog

__all__ = ["INTERFACES", "RdbmsApp", "RdbmsFactor", "RdbmsInstance"]

log = logging.getLogger("wasmhive.capabilities.rdbms")

PG2, PG3, PG4 = "fermyon:spin/postgres@2.0.0", "spin:postgres/postgres@3.0.0", "spin:postgres/postgres@4.0.0"
MYSQL2 = "fermyon:spin/mysql@2.0.0"
TYPES2 = "fermyon:spin/rdbms-types@2.0.0"  # types only: an empty instance
INTERFACES = (TYPES2, PG2, PG3, PG4, MYSQL2)

# Host resource type ids, from the one id space of component/_restypes.py.
RT = {iface: allocate(f"{iface}#connection") for iface in (PG2, PG3, PG4, MYSQL2)}  # host resource type ids
MAX_HANDLES = 64
CONNECT_TIMEOUT = 30.0  # with no request deadline
PING_AFTER_IDLE = 1.0  # seconds idle in the pool after which a connection is checked before reuse


@dataclass
class RdbmsApp:
    """Per app: each component's outbound policy, the connection pools, the deadline watchdog."""

    policies: dict[str, OutboundPolicy]
    pools: dict[str, Pool] = field(default_factory=dict)
    watchdog: Watchdog = field(default_factory=Watchdog)

    def pool(self, kind: str) -> Pool:
        """The pool of `kind` ("postgres", "mysql"); entries are (connection, idle since)."""
        pool = self.pools.get(kind)
        if pool is None:
            pool = self.pools.setdefault(kind, Pool(lambda entry: entry[0].close()))
        return pool

    def close(self) -> None:
        self.watchdog.close()
        for pool in self.pools.values():
            pool.close()


@dataclass
class RdbmsInstance:
    """One instance's view: its policy and the connections it opened (rep -> session)."""

    app: RdbmsApp
    policy: OutboundPolicy
    handles: dict[int, Any] = field(default_factory=dict)
    reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def release(self, rep: int) -> None:
        """The guest dropped a connection: back to the pool if it is healthy."""
        session = self.handles.pop(rep, None)
        if session is None:
            return
        pool = self.app.pools[session.kind]
        if session.reusable():
            pool.give(session.key, (session.conn, time.monotonic()))
        else:
            pool.discard((session.conn, 0.0))

    def close(self) -> None:
        for rep in list(self.handles):
            with contextlib.suppress(Exception):
                self.release(rep)


def _host_state() -> Any:
    """The calling instance's `HostState` (None outside a request: no deadline)."""
    from ...wasi._state import current_or_none

    return current_or_none()


def _remaining(state: Any) -> float | None:
    # Raises DeadlineHit (a trap the trigger answers with 504) once the deadline has passed.
    return None if state is None else state.remaining()


class RdbmsFactor:
    """Outbound PostgreSQL and MySQL for guests; see the module docstring."""

    name = "rdbms"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> RdbmsApp:
        policies = dict((configured or {}).get("outbound_http") or {})
        return RdbmsApp(policies)

    def prepare(self, app_state: RdbmsApp, component_id: str) -> RdbmsInstance:
        return RdbmsInstance(app_state, app_state.policies.get(component_id) or OutboundPolicy())

    # -- opening ---------------------------------------------------------------------------------------
    def _open(self, inst: RdbmsInstance, kind: str, address: str, version: int) -> Any:
        if len(inst.handles) >= MAX_HANDLES:
            raise RdbmsError("other", f"more than {MAX_HANDLES} open connections")
        driver = _driver(kind)
        host, port, params = driver.parse_address(address)
        ip = checked_address(inst.policy, kind, host, port)
        key = (ip, port, tuple(sorted(params.items())))
        pool = inst.app.pool(kind)
        state = _host_state()
        conn = None
        while (entry := pool.take(key)) is not None:
            conn, idle_since = entry
            try:
                if time.monotonic() - idle_since < PING_AFTER_IDLE or self._ping(inst, driver, conn, state):
                    break
            except BaseException:  # the deadline passed while checking it
                pool.discard(entry)
                raise
            pool.discard(entry)
            conn = None
        if conn is None:
            left = _remaining(state)
            conn = driver.connect(params, ip, min(left, CONNECT_TIMEOUT) if left is not None else CONNECT_TIMEOUT)
        rep = next(inst.reps)
        inst.handles[rep] = driver.Session(conn, key, version)
        return rep

    @staticmethod
    def _ping(inst: RdbmsInstance, driver: Any, conn: Any, state: Any) -> bool:
        # Bounded by the deadline like a statement: a server gone silent must not hold the guest.
        _remaining(state)
        with inst.app.watchdog.guard(None if state is None else state.deadline, lambda: driver.Session.abort(conn)):
            alive: bool = driver.Session.alive(conn)
        _remaining(state)
        return alive

    def _run(self, inst: RdbmsInstance, rep: int, statement: str, params: list[Any], *, rows: bool) -> Any:
        session = inst.handles.get(rep)
        if session is None:
            raise RdbmsError("other", "unknown connection handle")
        state = _host_state()
        _remaining(state)
        deadline = None if state is None else state.deadline
        with inst.app.watchdog.guard(deadline, session.cancel) as guard:
            try:
                return session.run(statement, list(params), guard, rows=rows)
            except Cancelled:
                pass
        _remaining(state)  # past the deadline: raises DeadlineHit
        raise RdbmsError("query-failed", "statement cancelled at the request deadline")

    # -- linking ---------------------------------------------------------------------------------------
    def link(self, root: Any, state_of: StateOf) -> None:
        """Define Spin's postgres (2.0.0, 3.0.0, 4.0.0) and mysql (2.0.0) interfaces."""
        from ...component._hostcall import define_func, define_resource

        hr = {rt: ResourceType.host(rt) for rt in RT.values()}

        def inst() -> RdbmsInstance:
            state: RdbmsInstance = state_of().states[self.name]
            return state

        def dtor(rep: int) -> None:
            with contextlib.suppress(Exception):  # the request may already be gone
                inst().release(rep)

        def define(li: Any, name: str, op: str, version: int, fn: Callable[..., Any]) -> None:
            # Failures become the WIT's error variant (`err`), never another Python exception inside
            # wasmtime (the deadline's DeadlineHit is the one deliberate trap).
            errors: Errors = {RdbmsError: lambda e: _error(e, version)}
            define_func(li, name, observed(self.name, op, fn, errors, internal="other"), host_resources=hr)

        with root.add_instance(TYPES2):
            pass
        for iface, kind, version in ((PG2, "postgres", 2), (PG3, "postgres", 3), (PG4, "postgres", 4),
                                     (MYSQL2, "mysql", 2)):
            with root.add_instance(iface) as li:
                define_resource(li, "connection", RT[iface], dtor)
                define(li, "[static]connection.open", f"{kind}.open", version,
                       lambda address, k=kind, v=version: self._open(inst(), k, address, v))
                define(li, "[method]connection.query", f"{kind}.query", version,
                       lambda rep, stmt, params: self._run(inst(), rep, stmt, params, rows=True))
                define(li, "[method]connection.execute", f"{kind}.execute", version,
                       lambda rep, stmt, params: self._run(inst(), rep, stmt, params, rows=False))


def _driver(kind: str) -> Any:
    # Imported on first use: psycopg and PyMySQL are optional extras.
    try:
        if kind == "postgres":
            from ._postgres import Session, connect, parse_address
        else:
            from ._mysql import Session, connect, parse_address  # type: ignore[assignment]
        return SimpleNamespace(Session=Session, connect=connect, parse_address=parse_address)
    except ImportError as e:
        extra = "postgres" if kind == "postgres" else "mysql"
        raise RdbmsError("connection-failed", f"{kind} support is not installed on the host ({e.name} missing: "
                                              f"pip install 'wasmhive[{extra}]')") from None


def _error(e: RdbmsError, version: int) -> Variant:
    """The WIT error variant for `e`; `spin:postgres@4.0.0`'s `query-failed` carries a `query-error`."""
    if version != 4 or e.case != "query-failed":
        return Variant(e.case, e.message)
    if e.fields is None:
        return Variant("query-failed", Variant("text", e.message))
    fields = dict(e.fields)
    rec = {"as-text": e.message, "severity": fields.pop("severity", ""), "code": fields.pop("code", ""),
           "message": fields.pop("message", e.message), "detail": fields.pop("detail", None),
           "extras": sorted(fields.items())}
    return Variant("query-failed", Variant("db-error", rec))
