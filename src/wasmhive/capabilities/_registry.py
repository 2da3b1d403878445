"""The capability registry: which factors exist, in dependency order, and one app's configured set."""

from __future__ import annotations

from typing import Any

from ..appconfig import AppConfig
from ._factor import Factor, InstanceContext, StateOf
from .files import FilesFactor
from .key_value import KeyValueFactor
from .llm import LlmFactor
from .mqtt import MqttFactor
from .nn import NnFactor
from .outbound_http import OutboundHttpFactor
from .outbound_redis import OutboundRedisFactor
from .rdbms import RdbmsFactor
from .sealing import SealingFactor
from .sqlite import SqliteFactor
from .variables import VariablesFactor

__all__ = ["FACTORS", "AppCapabilities"]

# One line per capability. Order matters: a factor may use the states of those before it.
FACTORS: list[type[Factor]] = [
    VariablesFactor,
    KeyValueFactor,
    OutboundHttpFactor,
    FilesFactor,
    MqttFactor,  # after OutboundHttpFactor: reuses its allowed_outbound_hosts policies
    OutboundRedisFactor,
    SqliteFactor,
    SealingFactor,
    LlmFactor,
    RdbmsFactor,
    NnFactor,
]


class AppCapabilities:
    """Every capability configured for one app: link once, configure once, prepare per instance.

    >>> caps = AppCapabilities(app_config)          # validates config, opens backends (start-up)
    >>> with linker.root() as root:
    ...     caps.link(root, state_of)                 # once per component linker
    >>> ctx = caps.instance("my-component")          # per request; keep it where state_of finds it
    """

    def __init__(self, app: AppConfig, factors: list[Factor] | None = None) -> None:
        self.app = app
        self.factors: list[Factor] = factors if factors is not None else [cls() for cls in FACTORS]
        self.states: dict[str, Any] = {}
        try:
            for f in self.factors:
                self.states[f.name] = f.configure(app, self.states)
        except BaseException:
            self.close()
            raise

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define every capability's interfaces on a component linker's root instance."""
        for f in self.factors:
            f.link(root, state_of)

    @property
    def interfaces(self) -> list[str]:
        """Every interface name the capabilities define."""
        return [i for f in self.factors for i in f.interfaces]

    def link_component(self, root: Any, state_of: StateOf, component: Any, engine: Any,
                       component_id: str | None = None) -> list[str]:
        """`link`, then define the component's remaining non-WASI imports as unbacked (they answer with
        their interface's own error), and its `files` (if any) as its filesystem. Returns the unbacked
        names."""
        from ._unbacked import link_unbacked

        self.link(root, state_of)
        unbacked = link_unbacked(root, component, engine, self.interfaces)
        files = self.states.get("files") or {}
        if component_id is not None and files.get(component_id) is not None:
            factor = next(f for f in self.factors if f.name == "files")
            imports = [(n, e.ty) for n, e in component.type.imports(engine).items()]
            factor.link_filesystem(root, state_of, imports, engine)  # type: ignore[attr-defined]
        return unbacked

    def instance(self, component_id: str) -> InstanceContext:
        """Fresh per-instance state for one instance of `component_id`."""
        ctx = InstanceContext(component_id)
        for f in self.factors:
            ctx.states[f.name] = f.prepare(self.states[f.name], component_id)
        return ctx

    def state(self, name: str) -> Any:
        """The per-app state of capability `name` (e.g. "key_value", "variables")."""
        return self.states[name]

    def close(self) -> None:
        """Close backends (database files, connections)."""
        for state in self.states.values():
            close = getattr(state, "close", None)
            if close is not None:
                close()
        self.states.clear()
