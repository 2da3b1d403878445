"""Connections to the Redis servers an app's guests open, pooled per app per address (redis-py).

A guest's `connection` resource leases one pooled connection for its lifetime (so `execute("SELECT", ..)`
and the calls after it see one session, as in Spin) and gives it back when dropped or when the instance
ends. A connection whose session state a guest changed (SELECT, MULTI, SUBSCRIBE, CLIENT, ...) is closed
instead of going back to the pool, so the next lease always starts clean.

Every command runs with a socket timeout no longer than the instance's remaining deadline: a guest blocked
in a host call cannot be interrupted by epochs, so the call itself must end in time.
"""

from __future__ import annotations

import contextlib
import functools
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

from ._address import Target

__all__ = ["DIRTY_COMMANDS", "AddressPool", "Lease", "RedisCallError", "RedisPools", "Status", "server_error"]

MAX_PER_ADDRESS = 32  # open connections per app per address (leased + idle)
LEASE_WAIT = 5.0  # longest wait for a free pooled connection before `too-many-connections`
DEFAULT_TIMEOUT = 30.0  # a command's socket timeout when the instance has no deadline
# Commands that change the connection's session: such a connection is never handed to another lease.
DIRTY_COMMANDS = frozenset({
    "SELECT", "MULTI", "WATCH", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "CLIENT", "HELLO",
    "AUTH", "RESET", "READONLY", "READWRITE", "ASKING", "SYNC", "PSYNC", "REPLCONF", "QUIT", "SWAPDB",
})


class Status(str):
    """A RESP simple-string reply (`+OK`): the WIT's `status` result, distinct from a bulk (binary) reply."""


class RedisCallError(Exception):
    """A failed call, as the WIT's error `case` (`other` carries the message)."""

    def __init__(self, case: str, message: str = "") -> None:
        super().__init__(message or case)
        self.case = case
        self.message = message


@functools.cache
def _parser_class() -> type:
    """redis-py's RESP2 parser, except simple strings come back as `Status` (redis-py returns them as
    bytes, like bulk strings, and the WIT tells them apart)."""
    from redis._parsers.resp2 import _RESP2Parser as Base
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import InvalidResponse
    from redis.utils import SENTINEL

    base: Any = Base  # redis-py is untyped here

    class StatusParser(base):  # type: ignore[misc]
        def _read_response(self, disable_decoding: bool = False, timeout: Any = SENTINEL) -> Any:
            raw = self._buffer.readline(timeout=timeout)
            if not raw:
                raise RedisConnectionError("the Redis server closed the connection")
            kind, rest = raw[:1], raw[1:]
            if kind == b"-":
                error = self.parse_error(rest.decode("utf-8", errors="replace"))
                if isinstance(error, RedisConnectionError):
                    raise error
                return error  # the connection raises it (a pipeline would collect it)
            if kind == b"+":
                return Status(rest.decode("utf-8", errors="replace"))
            if kind == b":":
                return int(rest)
            if kind in (b"$", b"*") and rest == b"-1":
                return None
            if kind == b"$":
                return bytes(self._buffer.read(int(rest), timeout=timeout))
            if kind == b"*":
                return [self._read_response(disable_decoding, timeout) for _ in range(int(rest))]
            raise InvalidResponse(f"protocol error: {raw[:64]!r}")

    return StatusParser


@functools.cache
def _connection_classes() -> tuple[type, type]:
    """redis-py connection classes that connect to the address the policy checked, never re-resolving the
    name (TLS still verifies the certificate against the name)."""
    from redis.connection import Connection, SSLConnection

    plain: Any = Connection  # redis-py is untyped here
    tls: Any = SSLConnection

    class Pinned(plain):  # type: ignore[misc]
        def __init__(self, *, pinned_ip: str, **kwargs: Any) -> None:
            self.pinned_ip = pinned_ip
            super().__init__(**kwargs)

        def _connect(self) -> socket.socket:
            sock = socket.create_connection((self.pinned_ip, self.port), timeout=self.socket_connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.socket_timeout)
            return sock

    class PinnedTLS(tls, Pinned):  # type: ignore[misc]
        """SSLConnection wraps the socket `Pinned._connect` made (MRO: SSLConnection, Pinned, Connection)."""

    return Pinned, PinnedTLS


class AddressPool:
    """The connections of one app to one `Target`: at most `MAX_PER_ADDRESS`, idle ones reused."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._idle: list[Any] = []
        self._count = 0
        self._cond = threading.Condition()
        self._closed = False

    def _new(self) -> Any:
        try:
            import redis
        except ImportError:
            raise RedisCallError("other", "outbound Redis needs redis-py: pip install 'wasmhive[redis]'") from None

        pinned, pinned_tls = _connection_classes()
        cls = pinned_tls if self.target.tls else pinned
        t = self.target
        return cls(pinned_ip=t.ip, host=t.host, port=t.port, db=t.db, username=t.username, password=t.password,
                   socket_timeout=DEFAULT_TIMEOUT, socket_connect_timeout=DEFAULT_TIMEOUT, protocol=2,
                   parser_class=_parser_class(), retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))

    def acquire(self, wait: float) -> Any:
        """A connection (maybe not connected yet); `RedisCallError("too-many-connections")` after `wait`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._idle or self._count < MAX_PER_ADDRESS or self._closed,
                                       timeout=wait):
                raise RedisCallError("too-many-connections")
            if self._closed:
                raise RedisCallError("other", "the app is shutting down")
            if self._idle:
                conn = self._idle.pop()
                if _stale(conn):
                    _quiet_disconnect(conn)  # the server closed it (restart, idle timeout): reconnects on use
                return conn
            self._count += 1
        try:
            return self._new()
        except BaseException:
            self.discard(None)
            raise

    def release(self, conn: Any, *, reusable: bool) -> None:
        """Give a leased connection back: to the idle list, or closed when its session is not clean."""
        if not reusable or self._closed:
            self.discard(conn)
            return
        with self._cond:
            self._idle.append(conn)
            self._cond.notify()

    def discard(self, conn: Any) -> None:
        if conn is not None:
            _quiet_disconnect(conn)
        with self._cond:
            self._count -= 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            _quiet_disconnect(conn)


def _stale(conn: Any) -> bool:
    """Whether an idle connection has something to read: only a server that closed it (EOF) sends
    unasked, so it cannot serve the next command."""
    sock = conn._sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _quiet_disconnect(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken socket may fail again; nothing to do about it
        conn.disconnect()


def server_error(e: Exception) -> RedisCallError:
    """A Redis error reply as the WIT's case: WRONGTYPE (and a non-integer for INCR) is `type-error`."""
    text = str(e)
    if text.startswith("WRONGTYPE") or "not an integer" in text:
        return RedisCallError("type-error")
    return RedisCallError("other", text)


class Lease:
    """One guest `connection`: a pooled connection held from `open` until the resource is dropped."""

    def __init__(self, pool: AddressPool, conn: Any) -> None:
        self.pool = pool
        self.conn = conn
        self.dirty = False

    def call(self, remaining: Callable[[], float | None], *args: Any) -> Any:
        """Run one command; the reply as parsed (`Status`, int, bytes, None, list). An error reply raises
        its `RedisCallError` (see `server_error`); a broken or timed-out connection raises `RedisCallError("other")` and is
        reconnected on the next call."""
        import redis

        left = remaining()
        timeout = DEFAULT_TIMEOUT if left is None else max(0.001, min(DEFAULT_TIMEOUT, left))
        conn = self.conn
        conn.socket_timeout = conn.socket_connect_timeout = timeout
        if conn._sock is not None:
            conn._sock.settimeout(timeout)
        try:
            conn.send_command(*args, check_health=False)
            return conn.read_response()
        except redis.ResponseError as e:
            raise server_error(e) from None
        except (redis.RedisError, OSError) as e:
            _quiet_disconnect(conn)
            raise RedisCallError("other", f"redis {self.pool.target}: {e or type(e).__name__}") from None

    def connect(self, remaining: Callable[[], float | None]) -> None:
        """Connect now if not connected (so `open` reports an unreachable server, as Spin's does)."""
        import redis

        left = remaining()
        timeout = DEFAULT_TIMEOUT if left is None else max(0.001, min(DEFAULT_TIMEOUT, left))
        self.conn.socket_connect_timeout = self.conn.socket_timeout = timeout
        try:
            self.conn.connect()
        except (redis.RedisError, OSError) as e:
            _quiet_disconnect(self.conn)
            raise RedisCallError("other", f"cannot connect to redis {self.pool.target}: {e}") from None

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            self.pool.release(conn, reusable=not self.dirty and conn._sock is not None)


class RedisPools:
    """The per-app state: one `AddressPool` per target, created on first use; closed with the app."""

    def __init__(self) -> None:
        self._pools: dict[Target, AddressPool] = {}
        self._lock = threading.Lock()

    def pool(self, target: Target) -> AddressPool:
        with self._lock:
            pool = self._pools.get(target)
            if pool is None:
                pool = self._pools[target] = AddressPool(target)
            return pool

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
