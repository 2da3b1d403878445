"""The variables capability: `fermyon:spin/variables@2.0.0`, `spin:variables/variables@3.0.0` and
`wasi:config/store@0.2.0-draft-2024-09-27`, over the values resolved at start-up."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from ...appconfig import AppConfig
from ...component._values import ResultError, Variant
from .._factor import StateOf
from ._resolve import ResolvedVariables, resolve

__all__ = ["INTERFACES", "VariablesFactor"]

log = logging.getLogger("wasmhive.capabilities.variables")

SPIN_INTERFACES = ("fermyon:spin/variables@2.0.0", "spin:variables/variables@3.0.0")
CONFIG_INTERFACE = "wasi:config/store@0.2.0-draft-2024-09-27"
INTERFACES = (*SPIN_INTERFACES, CONFIG_INTERFACE)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class VariablesFactor:
    """Variables: the app's `[variables]` rendered into each component's `variables` table.

    A guest sees only its own component's variables (deny by default); a name it was not given is
    `undefined` (or `none` through `wasi:config`).
    """

    name = "variables"
    interfaces: tuple[str, ...] = INTERFACES

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define the three interfaces on a component linker's root instance (typed host-call path).

        Each function returns its `ok` value and raises `ResultError(Variant(case, message))` for `err`:
        `invalid-name`/`undefined` (Spin), and a host failure as `other` (Spin) or `upstream` (wasi:config).
        """
        from ...component._hostcall import define_func

        def own() -> dict[str, str]:
            values: dict[str, str] = state_of().states.get(self.name, {})
            return values

        def spin_get(name: str) -> str:
            if not _NAME.match(name):
                raise ResultError(Variant("invalid-name", f"{name!r}: variable names are lowercase letters, digits and _"))
            try:
                value = own().get(name)
            except Exception as e:  # never let a host bug escape as a Python exception through wasmtime
                log.exception("variables.get failed")
                raise ResultError(Variant("other", str(e))) from None
            if value is None:
                raise ResultError(Variant("undefined", f"no variable named {name!r}"))
            return value

        def config_get(key: str) -> str | None:
            try:
                return own().get(key)
            except Exception as e:
                log.exception("wasi:config get failed")
                raise ResultError(Variant("upstream", str(e))) from None

        def config_get_all() -> list[tuple[str, str]]:
            try:
                return sorted(own().items())
            except Exception as e:
                log.exception("wasi:config get-all failed")
                raise ResultError(Variant("upstream", str(e))) from None

        for iface in SPIN_INTERFACES:
            with root.add_instance(iface) as inst:
                define_func(inst, "get", spin_get)
        with root.add_instance(CONFIG_INTERFACE) as inst:
            define_func(inst, "get", config_get)
            define_func(inst, "get-all", config_get_all)

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> ResolvedVariables:
        """Resolve all variables now: a missing required one is a `ConfigError` at start-up."""
        return resolve(app)

    def prepare(self, app_state: ResolvedVariables, component_id: str) -> dict[str, str]:
        return app_state.component(component_id)
