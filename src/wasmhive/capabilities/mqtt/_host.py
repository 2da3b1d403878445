"""The outbound MQTT capability: Spin's `fermyon:spin/mqtt@2.0.0` (`connection.open`, `publish` with QoS).

Deny by default: an address is reached only when the component's `allowed_outbound_hosts` grants
`mqtt://host:port` (checked on every `open`, by name and by resolved address). Every wait (connect,
CONNACK, PUBACK/PUBCOMP) ends by the request deadline; failures reach the guest as the WIT's `error`
cases, never as a Python exception inside wasmtime.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wasmtime.component import ResourceType

from ...component._restypes import allocate
from ...component._values import Variant
from ...wasi._calls import observed
from .._factor import StateOf
from ._client import QOS, MqttConnection, MqttError
from ._pool import ConnectionPool, parse_address, resolve_allowed

if TYPE_CHECKING:
    from ...appconfig import AppConfig
    from ..outbound_http import OutboundPolicy

__all__ = ["INTERFACES", "MqttApp", "MqttFactor", "MqttInstance"]

log = logging.getLogger("wasmhive.capabilities.mqtt")

# spin-sdk 3.4.1 ships only the 2.0.0 interface (no `spin:mqtt@3.0.0` package): that is what we define.
INTERFACES = ("fermyon:spin/mqtt@2.0.0",)
RT_CONNECTION = allocate("fermyon:spin/mqtt@2.0.0#connection")  # host resource type id, unique in the process
MAX_HANDLES = 64  # open connection handles per instance
CONNECT_TIMEOUT = 10.0  # seconds, when the request has more time than that
PUBLISH_TIMEOUT = 30.0
MAX_KEEPALIVE = 65535  # MQTT's keep-alive is a 16-bit number of seconds


@dataclass
class MqttApp:
    """Per-app MQTT state: the connection pool and each component's outbound policy."""

    pool: ConnectionPool
    policies: dict[str, OutboundPolicy]

    def close(self) -> None:
        self.pool.close()


@dataclass
class MqttInstance:
    """One instance's view: its policy and its open connection handles (rep -> pooled connection)."""

    app: MqttApp
    policy: OutboundPolicy
    handles: dict[int, MqttConnection] = field(default_factory=dict)
    reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def open(self, address: str, username: str, password: str, keepalive: int) -> int:
        """A new handle's rep (raises `MqttError`)."""
        addr = parse_address(address)
        if len(self.handles) >= MAX_HANDLES:
            raise MqttError("too-many-connections")
        if not 0 <= keepalive <= MAX_KEEPALIVE:
            raise MqttError("other", f"keep-alive interval {keepalive}s is out of range (0..{MAX_KEEPALIVE})")
        ip = resolve_allowed(addr, self.policy)
        conn = self.app.pool.get(addr, ip, username, password, keepalive, _timeout(CONNECT_TIMEOUT))
        rep = next(self.reps)
        self.handles[rep] = conn
        return rep

    def publish(self, rep: int, topic: str, payload: bytes, qos: str) -> None:
        conn = self.handles.get(rep)
        if conn is None:
            raise MqttError("other", "unknown connection handle")
        conn.publish(topic, payload, QOS[qos], _timeout(PUBLISH_TIMEOUT))

    def close(self) -> None:
        # Handles only borrow pooled connections: the pool keeps them for the next request.
        self.handles.clear()


# A wait bounded by the request's deadline gives up this much earlier (a quarter of what is left, at
# most REPORT_RESERVE seconds), so the guest still has time to turn the WIT error into its response:
# a wait that ran to the deadline itself left the guest ended mid-response (headers sent, body cut).
REPORT_RESERVE = 0.5


def _timeout(cap: float) -> float:
    """`cap`, or less when the request's deadline is nearer (a guest blocked in a host call is not
    interrupted by epochs). Past the deadline, `remaining()` ends the guest."""
    from ...wasi._state import current_or_none

    st = current_or_none()
    left = st.remaining() if st is not None else None
    if left is None:
        return cap
    return min(cap, left - min(REPORT_RESERVE, left / 4))


class MqttFactor:
    """Outbound MQTT for guests; see the module docstring."""

    name = "mqtt"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> MqttApp:
        """The outbound-HTTP factor (configured before this one) has parsed every component's
        `allowed_outbound_hosts`: the same policies grant `mqtt://` addresses."""
        policies = dict((configured or {}).get("outbound_http") or {})
        return MqttApp(ConnectionPool(app.name), policies)

    def prepare(self, app_state: MqttApp, component_id: str) -> MqttInstance:
        from ..outbound_http import OutboundPolicy

        return MqttInstance(app_state, app_state.policies.get(component_id) or OutboundPolicy())

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define `fermyon:spin/mqtt@2.0.0` on a component linker's root instance."""
        from ...component._hostcall import define_func, define_resource

        hr = {RT_CONNECTION: ResourceType.host(RT_CONNECTION)}

        def inst() -> MqttInstance:
            state: MqttInstance = state_of().states[self.name]
            return state

        def call(op: str, fn: Callable[..., int | None]) -> Callable[..., Any]:
            # Errors become `err` of the WIT's `error` cases (only two of them carry a message); a deadline
            # (HostTrap) still ends the guest.
            def error(e: MqttError) -> Variant:
                log.warning("mqtt %s: %s", op, e)
                return Variant(e.case, str(e)) if e.case in ("connection-failed", "other") else Variant(e.case)
            return observed("mqtt", op, fn, {MqttError: error}, internal="other")

        def dtor(rep: int) -> None:
            with contextlib.suppress(Exception):  # the request may already be gone
                inst().handles.pop(rep, None)

        def open_(address: str, username: str, password: str, keepalive: int) -> int:
            return inst().open(address, username, password, keepalive)

        def publish(rep: int, topic: str, payload: bytes, qos: str) -> None:
            inst().publish(rep, topic, bytes(payload), qos)

        for iface in INTERFACES:
            with root.add_instance(iface) as li:
                define_resource(li, "connection", RT_CONNECTION, dtor)
                define_func(li, "[static]connection.open", call("open", open_), host_resources=hr)
                define_func(li, "[method]connection.publish", call("publish", publish), host_resources=hr)
