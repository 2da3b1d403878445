"""The outbound-HTTP capability's life cycle: policies are built and checked at start-up; the HTTP
trigger's outgoing handler enforces them at call time (see `OutboundPolicy`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...appconfig import AppConfig
from .._factor import StateOf
from ._policy import OutboundPolicy

__all__ = ["OutboundHttpFactor"]


def _allow_private(app: AppConfig) -> bool:
    """The operator's `[outbound_http] allow_private_addresses = true` (runtime config): let names and
    wildcards reach loopback/private addresses, as Spin does. Only a runtime config the operator named
    (`--runtime-config-file`) can grant it; the app's own `runtime-config.toml` cannot."""
    from ...errors import ConfigError

    where = app.runtime.runtime_config_path or "runtime config"
    table = app.runtime.runtime_config.get("outbound_http", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: outbound_http must be a table ([outbound_http])")
    unknown = set(table) - {"allow_private_addresses"}
    if unknown:
        raise ConfigError(f"{where}: [outbound_http]: unknown field(s) {', '.join(sorted(unknown))} "
                          "(known: allow_private_addresses)")
    allow = table.get("allow_private_addresses", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{where}: [outbound_http] allow_private_addresses must be true or false")
    if allow and not app.runtime.runtime_config_trusted:
        raise ConfigError(f"{where}: [outbound_http] allow_private_addresses is the operator's choice: give "
                          "this runtime config with --runtime-config-file (an app cannot grant it to itself)")
    return allow


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
        allow_private = _allow_private(app)

        policies = {}
        for comp in app.components.values():
            try:
                policies[comp.id] = OutboundPolicy.parse(comp.allowed_outbound_hosts, variables,
                                                         allow_private=allow_private)
            except ConfigError as e:
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: {e}") from None
        return policies

    def prepare(self, app_state: dict[str, OutboundPolicy], component_id: str) -> OutboundPolicy:
        return app_state.get(component_id) or OutboundPolicy()
