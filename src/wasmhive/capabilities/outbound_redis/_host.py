"""The outbound-Redis capability: Spin's `redis` interface (`fermyon:spin/redis@2.0.0`, and the same
functions for `spin:redis/redis@3.0.0`) against real Redis servers.

Deny by default: `open(address)` answers `invalid-address` (Spin's answer) unless the component's
`allowed_outbound_hosts` grants the address (see `_address`). Failures are the WIT's error cases:
a key holding the wrong type (or `incr` of a non-integer) is `type-error`, a full pool or too many open
connections in one instance is `too-many-connections`, everything else (server down, timeouts, server
errors) is `other(message)`; never a Python exception inside wasmtime.
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
from ...wasi._calls import observed
from .._factor import StateOf
from ..outbound_http import OutboundPolicy
from ._address import AddressRefused, LookupTimeout, resolve_target
from ._pool import DIRTY_COMMANDS, LEASE_WAIT, Lease, RedisCallError, RedisPools, Status, server_error

__all__ = ["INTERFACES", "MAX_CONNECTIONS", "OutboundRedisApp", "OutboundRedisFactor", "RedisInstance"]

log = logging.getLogger("wasmhive.capabilities.outbound_redis")

INTERFACES = ("fermyon:spin/redis@2.0.0", "spin:redis/redis@3.0.0")
# Host resource type ids, from the one id space of component/_restypes.py (unique per process).
RT_V2, RT_V3 = (allocate(f"{i}#connection") for i in ("fermyon:spin/redis@2.0.0", "spin:redis/redis@3.0.0"))
MAX_CONNECTIONS = 16  # open `connection` resources per instance


@dataclass
class OutboundRedisApp:
    """Per-app state: the components' policies (from outbound HTTP's configuration) and the pools."""

    policies: Mapping[str, OutboundPolicy]
    pools: RedisPools = field(default_factory=RedisPools)

    def close(self) -> None:
        self.pools.close()


@dataclass
class RedisInstance:
    """One instance's view: its policy and its open connections (rep -> lease)."""

    app: OutboundRedisApp
    policy: OutboundPolicy
    leases: dict[int, Lease] = field(default_factory=dict)
    reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def open(self, address: str, remaining: Callable[[], float | None]) -> int:
        if len(self.leases) >= MAX_CONNECTIONS:
            raise RedisCallError("too-many-connections")
        left = remaining()
        try:
            target = resolve_target(address, self.policy, LEASE_WAIT if left is None else min(LEASE_WAIT, left))
        except AddressRefused as e:
            log.warning("redis open denied: %s", e)
            raise RedisCallError("invalid-address") from None
        except LookupTimeout as e:
            raise RedisCallError("other", str(e)) from None
        pool = self.app.pools.pool(target)
        left = remaining()
        lease = Lease(pool, pool.acquire(LEASE_WAIT if left is None else min(LEASE_WAIT, left)))
        try:
            lease.connect(remaining)
        except BaseException:
            lease.close()
            raise
        rep = next(self.reps)
        self.leases[rep] = lease
        return rep

    def lease(self, rep: int) -> Lease:
        lease = self.leases.get(rep)
        if lease is None:
            raise RedisCallError("other", "unknown redis connection handle")
        return lease

    def drop(self, rep: int) -> None:
        lease = self.leases.pop(rep, None)
        if lease is not None:
            lease.close()

    def close(self) -> None:
        leases, self.leases = list(self.leases.values()), {}
        for lease in leases:
            lease.close()


def _flatten(reply: Any, out: list[Any]) -> list[Any]:
    """A reply as the WIT's `list<redis-result>`: arrays flattened in order (as Spin does); nil, status,
    int64 and binary as their cases (`Variant("nil")`, `Variant("status", "OK")`, ...)."""
    if isinstance(reply, list):
        for item in reply:
            _flatten(item, out)
    elif reply is None:
        out.append(Variant("nil"))
    elif isinstance(reply, Status):
        out.append(Variant("status", str(reply)))
    elif isinstance(reply, int):  # bool too
        out.append(Variant("int64", int(reply)))
    elif isinstance(reply, bytes):
        out.append(Variant("binary", reply))
    elif isinstance(reply, Exception):
        raise server_error(reply)
    else:
        raise RedisCallError("other", f"unsupported Redis reply {type(reply).__name__}")
    return out


class OutboundRedisFactor:
    """Outbound Redis for guests; see the module docstring."""

    name = "outbound_redis"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> OutboundRedisApp:
        # The policies are outbound HTTP's (already parsed and checked at start-up): one allow-list.
        policies = (configured or {}).get("outbound_http") or {}
        return OutboundRedisApp(policies)

    def prepare(self, app_state: OutboundRedisApp, component_id: str) -> RedisInstance:
        return RedisInstance(app_state, app_state.policies.get(component_id) or OutboundPolicy())

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define Spin's redis interfaces on a component linker's root instance."""
        from ...component._hostcall import define_func, define_resource
        from ...wasi import current

        hr = {rt: ResourceType.host(rt) for rt in (RT_V2, RT_V3)}

        def inst() -> RedisInstance:
            state: RedisInstance = state_of().states[self.name]
            return state

        def remaining() -> float | None:
            return current().remaining()

        def run(op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            # The WIT's error cases as `err(Variant)` (only `other` carries a message).
            def error(e: RedisCallError) -> Variant:
                if e.case != "other":
                    return Variant(e.case)
                log.warning("redis %s: %s", op, e.message)
                return Variant(e.case, e.message)
            return observed("outbound_redis", op, fn, {RedisCallError: error}, internal="other")

        def call(rep: int, *args: Any) -> Any:
            return inst().lease(rep).call(remaining, *args)

        def open_(address: str) -> Any:
            return inst().open(address, remaining)

        def publish(rep: int, channel: str, payload: bytes) -> Any:
            call(rep, "PUBLISH", channel, bytes(payload))
            return None

        def get(rep: int, key: str) -> Any:
            reply = call(rep, "GET", key)
            return None if reply is None else bytes(reply)

        def set_(rep: int, key: str, value: bytes) -> Any:
            call(rep, "SET", key, bytes(value))
            return None

        def incr(rep: int, key: str) -> Any:
            return int(call(rep, "INCR", key))

        def del_(rep: int, keys: list[str]) -> Any:
            return int(call(rep, "DEL", *keys)) if keys else 0

        def sadd(rep: int, key: str, values: list[str]) -> Any:
            return int(call(rep, "SADD", key, *values)) if values else 0

        def srem(rep: int, key: str, values: list[str]) -> Any:
            return int(call(rep, "SREM", key, *values)) if values else 0

        def smembers(rep: int, key: str) -> Any:
            try:
                return [bytes(m).decode("utf-8") for m in call(rep, "SMEMBERS", key)]
            except UnicodeDecodeError:
                raise RedisCallError("type-error") from None  # a member that is not a WIT string

        def execute(rep: int, command: str, arguments: list[Variant]) -> Any:
            lease = inst().lease(rep)
            if command.strip().upper() in DIRTY_COMMANDS:
                lease.dirty = True  # its session changed: closed, not pooled, when the guest drops it
            # `int64(n)` goes as the integer, `binary(b)` as the bytes
            return _flatten(lease.call(remaining, command, *(a.value for a in arguments)), [])

        def dtor(rep: int) -> None:
            with contextlib.suppress(Exception):  # the instance may already be gone
                inst().drop(rep)

        ops: list[tuple[str, Callable[..., Any]]] = [
            ("[static]connection.open", open_), ("[method]connection.publish", publish),
            ("[method]connection.get", get), ("[method]connection.set", set_),
            ("[method]connection.incr", incr), ("[method]connection.del", del_),
            ("[method]connection.sadd", sadd), ("[method]connection.smembers", smembers),
            ("[method]connection.srem", srem), ("[method]connection.execute", execute),
        ]
        for iface, rt in zip(INTERFACES, (RT_V2, RT_V3), strict=True):
            with root.add_instance(iface) as li:
                define_resource(li, "connection", rt, dtor)
                for name, fn in ops:
                    op = name.rpartition(".")[2]
                    define_func(li, name, run(op, fn), host_resources=hr)
