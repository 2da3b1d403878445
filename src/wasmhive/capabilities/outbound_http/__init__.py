"""Outbound network policy (`allowed_outbound_hosts`, Spin's syntax), enforced at call time by triggers."""

from ._factor import OutboundHttpFactor
from ._policy import DEFAULT_PORTS, HostRule, OutboundPolicy, parse_rule

__all__ = ["DEFAULT_PORTS", "HostRule", "OutboundHttpFactor", "OutboundPolicy", "parse_rule"]
