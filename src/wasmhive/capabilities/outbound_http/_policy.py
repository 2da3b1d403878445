"""Outbound network policy from `allowed_outbound_hosts`, in Spin's syntax.

Accepted forms (each entry is `scheme://host[:port]`, no path):

- `https://example.com` (port defaults by scheme: http 80, https 443, redis 6379, ...)
- `https://example.com:8443`, `http://example.com:8000..8010` (a port range), `http://h:*` (any port)
- `https://*.example.com` (any subdomain, not the apex), `https://*` (any host), `*://example.com:443`
- `http://10.0.0.0/8:*` (an IP network), `http://[::1]:8080`
- `http://self` / `self` (the app's own origin; the trigger decides what that is)
- `{{ var }}` anywhere, rendered from the app's variables at start-up.

Loopback, private, link-local and other non-global addresses (SSRF targets: the host itself, cloud
metadata at 169.254.169.254, the LAN) are reached only when a rule names that IP address or network
literally, or names `localhost` (for loopback addresses). A host *name* that resolves to such an address
is denied even when a rule allows the name: DNS is not ours, and a public name can be rebound to
127.0.0.1. The operator can restore Spin's behaviour (any allowed name or wildcard may reach any
address) with `allow_private=True`, i.e. `[outbound_http] allow_private_addresses = true` in the
runtime config.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ...errors import ConfigError

__all__ = ["DEFAULT_PORTS", "HostRule", "OutboundPolicy"]

DEFAULT_PORTS = {"http": 80, "https": 443, "redis": 6379, "rediss": 6379, "postgres": 5432, "mysql": 3306,
                 "mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
_RULE = re.compile(r"^(?P<scheme>\*|[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9a-fA-F:.]+\](?:/\d+)?|[^:/\[\]]+(?:/\d+)?)"
                   r"(?::(?P<port>\*|\d+(?:\.\.\d+)?))?/?$")
_IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class HostRule:
    """One parsed `allowed_outbound_hosts` entry."""

    text: str
    scheme: str  # "*" for any
    host: str  # lowercase; "*" for any; "*.example.com" for subdomains; "self"
    ports: tuple[int, int] | None  # inclusive range; None = any
    network: _IPNet | None = None

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.scheme != "*" and self.scheme != scheme:
            return False
        if self.ports is not None and not self.ports[0] <= port <= self.ports[1]:
            return False
        if self.host == "*":
            return True
        if self.network is not None:
            ip = _ip(host)
            return ip is not None and ip.version == self.network.version and ip in self.network
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host

    def names_address(self, addr: _IP) -> bool:
        """Whether this rule names `addr` literally: its IP, a network holding it, or `localhost` for a
        loopback address. Only such rules reach non-global addresses."""
        if self.network is not None:
            return addr.version == self.network.version and addr in self.network
        if self.host == "localhost":
            return addr.is_loopback
        literal = _ip(self.host)
        return literal is not None and _unwrap(literal) == addr


def _ip(host: str) -> _IP | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _unwrap(addr: _IP) -> _IP:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64 64:ff9b::/96, 6to4), else `addr`:
    `::ffff:127.0.0.1` is loopback whatever its spelling."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public(addr: _IP) -> bool:
    """Reachable by a name or wildcard rule: a global unicast address (after unwrapping IPv4 in IPv6)."""
    inner = _unwrap(addr)
    return inner.is_global and not inner.is_multicast and not addr.is_multicast


def parse_rule(text: str) -> HostRule:
    """Parse one entry; a `ConfigError` says what is wrong with it."""
    raw = text.strip()
    if raw in ("self", "http://self", "https://self"):
        return HostRule(raw, raw.split("://")[0] if "://" in raw else "*", "self", None)
    m = _RULE.match(raw)
    if not m:
        if "://" not in raw:
            raise ConfigError(f"allowed_outbound_hosts entry {text!r} needs a scheme, e.g. \"https://{raw}\"")
        if re.match(r"^[^/]+://[^/]+/.+", raw):
            raise ConfigError(f"allowed_outbound_hosts entry {text!r} must not contain a path")
        raise ConfigError(f"allowed_outbound_hosts entry {text!r} is not scheme://host[:port]")
    scheme, host, port = m.group("scheme"), m.group("host").lower(), m.group("port")
    network = None
    if "/" in host:
        try:
            network = ipaddress.ip_network(host.replace("[", "").replace("]", ""), strict=False)
        except ValueError:
            raise ConfigError(f"allowed_outbound_hosts entry {text!r}: {host!r} is not an IP network") from None
    elif host.startswith("[") and _ip(host) is None:
        raise ConfigError(f"allowed_outbound_hosts entry {text!r}: {host!r} is not an IPv6 address")
    if "*" in host and host != "*" and not (host.startswith("*.") and "*" not in host[2:]):
        raise ConfigError(f"allowed_outbound_hosts entry {text!r}: only a leading `*.` wildcard is allowed")
    ports: tuple[int, int] | None
    if port == "*":
        ports = None
    elif port:
        lo, _, hi = port.partition("..")
        ports = (int(lo), int(hi or lo))
        if not 0 < ports[0] <= ports[1] <= 65535:
            raise ConfigError(f"allowed_outbound_hosts entry {text!r}: bad port {port!r}")
    elif scheme in DEFAULT_PORTS:
        ports = (DEFAULT_PORTS[scheme],) * 2
    else:
        raise ConfigError(f"allowed_outbound_hosts entry {text!r}: give a port (no default port for {scheme!r})")
    return HostRule(raw, scheme, host.strip("[]") if network is None else host, ports, network)


class OutboundPolicy:
    """Which outbound connections one component may make. Empty (the default) denies everything.

    For the HTTP trigger's `wasi:http/outgoing-handler` (and any other outbound interface), check at
    call time, twice:

    1. Before resolving: `policy.allows(scheme, host, port)` with the request's scheme (`"http"`,
       `"https"`), its host name or IP literal, and its port (the scheme's default when absent).
       False → the guest gets `HTTP-request-denied`.
    2. After resolving the name once: `policy.allows_address(scheme, host, ip, port)` for the address
       you will connect to (connect only to that address: no DNS rebinding). It refuses private,
       loopback, link-local and otherwise non-global addresses unless a matching rule names that
       address or network literally (or `localhost`, for loopback), or `allow_private` is set.

    `self` rules (the app's own origin) are answered by `allows_self`; the trigger knows its origin.
    """

    def __init__(self, rules: Iterable[HostRule] = (), *, allow_private: bool = False) -> None:
        self.rules = tuple(rules)
        self.allow_private = allow_private

    @classmethod
    def parse(cls, entries: Iterable[str], variables: Mapping[str, str] | None = None, *,
              allow_private: bool = False) -> OutboundPolicy:
        """Build a policy from `allowed_outbound_hosts` entries, rendering `{{ var }}` from `variables`.

        `allow_private`: the operator's opt-in to Spin's behaviour (names and wildcards may reach
        loopback and private addresses)."""
        from ..variables import render

        return cls((parse_rule(render(e, variables or {}, what=f"allowed_outbound_hosts entry {e!r}"))
                    for e in entries), allow_private=allow_private)

    def allows(self, scheme: str, host: str, port: int | None = None) -> bool:
        """Whether a connection to `scheme://host:port` is granted (before name resolution)."""
        scheme, host = scheme.lower().rstrip(":"), host.lower().strip("[]").rstrip(".")
        if port is None:
            port = DEFAULT_PORTS.get(scheme, 0)
        return any(r.host != "self" and r.matches(scheme, host, port) for r in self.rules)

    def allows_address(self, scheme: str, host: str, ip: str, port: int | None = None) -> bool:
        """Whether connecting to resolved address `ip` for `host` is granted (after name resolution)."""
        if not self.allows(scheme, host, port):
            return False
        addr = _ip(ip.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) does not change the address
        if addr is None:
            return False
        if is_public(addr) or self.allow_private:
            return True
        scheme, host = scheme.lower(), host.lower().strip("[]").rstrip(".")
        port = DEFAULT_PORTS.get(scheme, 0) if port is None else port
        inner = _unwrap(addr)
        return any(r.host != "self" and r.matches(scheme, host, port)
                   and (r.names_address(addr) or r.names_address(inner)) for r in self.rules)

    def allows_self(self) -> bool:
        """Whether the component may call its own app (`self`)."""
        return any(r.host == "self" for r in self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __repr__(self) -> str:
        extra = ", allow_private=True" if self.allow_private else ""
        return f"OutboundPolicy({[r.text for r in self.rules]}{extra})"
