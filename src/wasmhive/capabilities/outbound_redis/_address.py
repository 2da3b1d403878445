"""A guest's Redis address (`redis://[user:pass@]host[:port][/db]`, `rediss://...`), parsed and checked
against the component's `allowed_outbound_hosts` before anything connects.

The check is the outbound-HTTP policy's, done twice like it: the name first, then every address it
resolves to (a name resolving to a loopback/private address is refused unless a rule names that address).
We connect only to the address that passed (no second resolution, so no DNS rebinding).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..outbound_http import OutboundPolicy

__all__ = ["AddressRefused", "LookupTimeout", "Target", "resolve_target"]

SCHEMES = ("redis", "rediss")
# getaddrinfo has no timeout: lookups run here so the guest's call can give up at its deadline.
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="redis-dns")


class AddressRefused(Exception):
    """The address is malformed or not granted: the guest gets `invalid-address` (Spin's answer to both)."""


class LookupTimeout(Exception):
    """The host name did not resolve in time (the guest gets `other`)."""


@dataclass(frozen=True)
class Target:
    """One Redis server as a guest named it, pinned to the IP address the policy allowed."""

    scheme: str
    host: str
    ip: str
    port: int
    db: int
    username: str | None
    password: str | None

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    def __str__(self) -> str:  # never shows the password (log lines, error messages)
        return f"{self.scheme}://{self.host}:{self.port}/{self.db}"


def _parse(address: str) -> tuple[str, str, int, int, str | None, str | None]:
    try:
        u = urlsplit(address.strip())
        port = u.port or 6379
    except ValueError as e:
        raise AddressRefused(f"bad Redis address: {e}") from None
    if u.scheme not in SCHEMES:
        raise AddressRefused(f"bad Redis address: the scheme must be redis:// or rediss://, not {u.scheme!r}")
    if not u.hostname:
        raise AddressRefused("bad Redis address: no host")
    if u.query or u.fragment:
        raise AddressRefused("bad Redis address: query strings and fragments are not supported")
    path = u.path.strip("/")
    if path and not path.isdigit():
        raise AddressRefused(f"bad Redis address: the path must be a database number, not {u.path!r}")
    db = int(path) if path else 0
    user = unquote(u.username) if u.username else None
    password = unquote(u.password) if u.password is not None else None
    return u.scheme, u.hostname.lower().rstrip("."), port, db, user, password


def resolve_target(address: str, policy: OutboundPolicy, timeout: float | None = None) -> Target:
    """The checked `Target` for `address`, or `AddressRefused` saying why not (for the host's log);
    `LookupTimeout` when resolving a name takes longer than `timeout` seconds."""
    scheme, host, port, db, user, password = _parse(address)
    if not policy.allows(scheme, host, port):
        raise AddressRefused(f"{scheme}://{host}:{port} is not in allowed_outbound_hosts")
    try:
        ips = [str(ipaddress.ip_address(host))]
    except ValueError:
        lookup = _LOOKUPS.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = lookup.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise LookupTimeout(f"looking up {host!r} took longer than {timeout:g}s") from None
        except (OSError, UnicodeError) as e:
            raise AddressRefused(f"cannot resolve {host!r}: {e}") from None
        ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for ip in ips:
        if policy.allows_address(scheme, host, ip, port):
            return Target(scheme, host, ip, port, db, user, password)
    raise AddressRefused(f"{scheme}://{host}:{port} resolves to {', '.join(ips)}, which no allowed_outbound_hosts "
                         "rule names (loopback/private addresses must be named literally)")
