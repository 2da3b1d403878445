"""Checking a database address against the component's `allowed_outbound_hosts`.

The same two checks as outbound HTTP (`outbound_http.OutboundPolicy`): the name before resolving, then
the resolved address (loopback and private addresses only when a rule names them literally). The
driver then connects to that checked IP address, never to the name again (no DNS rebinding).
"""

from __future__ import annotations

import socket

from ..outbound_http import OutboundPolicy
from ._errors import RdbmsError

__all__ = ["checked_address"]


def checked_address(policy: OutboundPolicy, scheme: str, host: str, port: int) -> str:
    """The IP address to connect to for `scheme://host:port`, or `connection-failed` when not permitted."""
    shown = f"{scheme}://{host}:{port}"
    if not host or host.startswith("/") or not policy.allows(scheme, host, port):
        raise RdbmsError("connection-failed", f"address {shown} is not permitted by allowed_outbound_hosts")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise RdbmsError("connection-failed", f"cannot resolve {host!r}: {e}") from None
    for info in infos:
        ip = str(info[4][0])
        if policy.allows_address(scheme, host, ip, port):
            return ip
    raise RdbmsError("connection-failed", f"address {shown} resolves only to addresses not permitted by "
                                          "allowed_outbound_hosts")
