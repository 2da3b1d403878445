"""Outbound Redis for guests: Spin's `redis` interface against real Redis servers (redis-py), pooled per
app per address, checked against `allowed_outbound_hosts`."""

from ._address import AddressRefused, LookupTimeout, Target, resolve_target
from ._host import INTERFACES, MAX_CONNECTIONS, OutboundRedisApp, OutboundRedisFactor, RedisInstance
from ._pool import RedisCallError, RedisPools

__all__ = [
    "INTERFACES",
    "MAX_CONNECTIONS",
    "AddressRefused",
    "LookupTimeout",
    "OutboundRedisApp",
    "OutboundRedisFactor",
    "RedisCallError",
    "RedisInstance",
    "RedisPools",
    "Target",
    "resolve_target",
]
