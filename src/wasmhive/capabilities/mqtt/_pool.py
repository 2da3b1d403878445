"""MQTT addresses and the per-app connection pool.

An address is `mqtt://host[:port][?client_id=ID]` (Spin's form; the port defaults to 1883). It is
checked against the component's `allowed_outbound_hosts` twice, like outbound HTTP: the name before
resolving it, then the resolved address (loopback and private addresses only when a rule names them);
the connection goes to that checked address, never through a second lookup.

Connections are reused per app for the same address, client id and credentials: a request that opens
`mqtt://broker` does not pay a TCP + MQTT handshake when an earlier one already did.
"""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from ._client import MqttConnection, MqttError

if TYPE_CHECKING:
    from ..outbound_http import OutboundPolicy

__all__ = ["MAX_POOLED", "Address", "ConnectionPool", "parse_address", "resolve_allowed"]

MAX_POOLED = 64  # live broker connections per app; more answers `too-many-connections`
DEFAULT_PORT = 1883


@dataclass(frozen=True)
class Address:
    """A parsed `mqtt://` address."""

    host: str
    port: int
    client_id: str | None

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def parse_address(address: str) -> Address:
    """Parse a guest's address; `MqttError("invalid-address")` when it is not `mqtt://host[:port][?client_id=]`."""
    try:
        parts = urlsplit(address)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise MqttError("invalid-address") from None
    if parts.scheme == "mqtts":
        raise MqttError("connection-failed", "mqtts:// (MQTT over TLS) is not supported by this host")
    if parts.scheme != "mqtt" or not host or parts.path not in ("", "/") or parts.fragment or parts.username:
        raise MqttError("invalid-address")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise MqttError("invalid-address") from None
    if set(query) - {"client_id"} or any(len(v) != 1 for v in query.values()):
        raise MqttError("invalid-address")
    client_id = query["client_id"][0] if "client_id" in query else None
    return Address(host.lower().rstrip("."), port or DEFAULT_PORT, client_id)


def resolve_allowed(addr: Address, policy: OutboundPolicy) -> str:
    """The IP address to connect to, after both policy checks; `connection-failed` naming what is denied."""
    if not policy.allows("mqtt", addr.host, addr.port):
        raise MqttError("connection-failed", f"address {addr} is not allowed (allowed_outbound_hosts)")
    try:
        infos = socket.getaddrinfo(addr.host, addr.port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise MqttError("connection-failed", f"cannot resolve {addr.host}: {e}") from None
    for info in infos:
        ip = str(info[4][0])
        if policy.allows_address("mqtt", addr.host, ip, addr.port):
            return ip
    shown = infos[0][4][0] if infos else "?"
    raise MqttError("connection-failed", f"address {addr} ({shown}) is not allowed: a private or loopback "
                    "address needs a rule naming it (e.g. mqtt://127.0.0.1:1883 or mqtt://localhost:1883)")


class ConnectionPool:
    """Live connections of one app, keyed by (address, resolved IP, client id, credentials, keep-alive)."""

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name
        self._lock = threading.Lock()
        self._conns: dict[tuple[object, ...], MqttConnection] = {}
        self._closed = False

    def get(self, addr: Address, ip: str, username: str, password: str, keepalive: int,
            timeout: float) -> MqttConnection:
        """A live pooled connection, or a new one (connected within `timeout`)."""
        key = (addr, ip, username, password, keepalive)
        with self._lock:
            conn = self._conns.get(key)
            if conn is not None and conn.alive:
                return conn
            self._prune()
            if len(self._conns) >= MAX_POOLED:
                raise MqttError("too-many-connections")
        # Connect outside the lock: a slow broker must not hold up requests to other brokers.
        client_id = addr.client_id or f"wasmhive-{self.app_name}-{uuid.uuid4().hex[:12]}"
        fresh = MqttConnection(ip, addr.port, client_id=client_id, username=username, password=password,
                               keepalive=keepalive, timeout=timeout, label=str(addr))
        with self._lock:
            current = self._conns.get(key)
            if self._closed or (current is not None and current.alive):
                fresh.close()
                if self._closed:
                    raise MqttError("other", "the app is shutting down")
                return current  # type: ignore[return-value]  # alive, checked above
            self._conns[key] = fresh
            return fresh

    def _prune(self) -> None:
        for key in [k for k, c in self._conns.items() if not c.alive]:
            self._conns.pop(key).close()

    def close(self) -> None:
        """Disconnect every connection (app shutdown)."""
        with self._lock:
            self._closed = True
            conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            c.close()
