"""The outbound-HTTP capability's life cycle: policies are built and checked at start-up; the HTTP
trigger's outgoing handler enforces them at call time (see `OutboundPolicy`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...app._model import AppConfig
from .._factor import StateOf
from ._policy import OutboundPolicy

__all__ = ["OutboundHttpFactor"]


class OutboundHttpFactor:
    """Builds each component's `OutboundPolicy`; links nothing itself (the wasi:http host does)."""

    name = "outbound_http"
    interfaces: tuple[str, ...] = ()

    def link(self, root: Any, state_of: StateOf) -> None:
        """Nothing to link: `wasi:http/outgoing-handler` belongs to the HTTP trigger's wasi layer."""

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> dict[str, OutboundPolicy]:
        """Parse every component's `allowed_outbound_hosts` now (templates rendered from the resolved
        variables): a bad entry fails start-up."""
        from ...errors import ConfigError

        resolved = (configured or {}).get("variables")
        variables = resolved.app_values if resolved is not None else {}

        policies = {}
        for comp in app.components.values():
            try:
                policies[comp.id] = OutboundPolicy.parse(comp.allowed_outbound_hosts, variables)
            except ConfigError as e:
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: {e}") from None
        return policies

    def prepare(self, app_state: dict[str, OutboundPolicy], component_id: str) -> OutboundPolicy:
        return app_state.get(component_id) or OutboundPolicy()
