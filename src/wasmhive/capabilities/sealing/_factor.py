"""The sealing capability: `wasmhive:tee/sealing` and `wasmhive:tee/attestation` for components.

Deny by default, checked twice: only components whose manifest says `sealing = true` /
`attestation = true` get a working interface; the grant is resolved at start-up (the component is
measured, its signer manifest `<source>.signer.json` verified, the platform keys opened, refusing key
files others can read) and checked again on every call (an ungranted component gets `denied`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...appconfig import AppConfig, ComponentConfig
from ...component._values import ResultError, Variant
from ...errors import AttestationError, ConfigError, SealingError
from ...tee import PlatformKeys, TeeGuest, identity_of, measure, platform_keys, signer_manifest_path
from ...tee._wit import ATTESTATION, SEALING
from ...wasi._calls import Errors, observed
from .._factor import StateOf

__all__ = ["INTERFACES", "SealingApp", "SealingFactor", "sandbox_description"]

INTERFACES = (SEALING, ATTESTATION)
_POLICIES = {"same-code": "same-code", "same-signer": "same-signer"}


@dataclass
class SealingApp:
    """Per app: the platform keys (None when no component is granted anything) and each granted guest."""

    keys: PlatformKeys | None = None
    guests: dict[str, TeeGuest] = field(default_factory=dict)


def sandbox_description(app: AppConfig, comp: ComponentConfig) -> dict[str, Any]:
    """What the evidence says about the sandbox a component runs in: its grants and manifest limits."""
    return {
        "app": app.name,
        "component": comp.id,
        "capabilities": {
            "sealing": comp.sealing,
            "attestation": comp.attestation,
            "key_value_stores": sorted(comp.key_value_stores),
            "allowed_outbound_hosts": sorted(comp.allowed_outbound_hosts),
            "files": bool(comp.files),
            "variables": sorted(comp.variables),
            "environment": sorted(comp.environment),
        },
        "limits": {k: str(v) for k, v in sorted({**app.limits, **comp.limits}.items())},
    }


def _sealed_stores(app: AppConfig, kv: Any) -> list[str]:
    """Labels of open key-value stores whose runtime config says `sealed = true` (validated here)."""
    tables = app.runtime.runtime_config.get("key_value_store", {})
    labels = []
    for label, spec in (tables.items() if isinstance(tables, dict) else ()):
        sealed = spec.get("sealed", False) if isinstance(spec, dict) else False
        if not isinstance(sealed, bool):
            raise ConfigError(f"{app.runtime.runtime_config_path or 'runtime config'}: [key_value_store.{label}] "
                              "sealed must be true or false")
        if sealed and kv is not None and label in kv.stores:
            labels.append(label)
    return labels


class SealingFactor:
    """Sealing and attestation for components; see the module docstring."""

    name = "sealing"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> SealingApp:
        granted = [c for c in app.components.values() if c.sealing or c.attestation]
        kv = (configured or {}).get("key_value")
        sealed_stores = _sealed_stores(app, kv)
        if not granted and not sealed_stores:
            return SealingApp()
        environ = app.runtime.environ
        keys = platform_keys(environ, app.state_dir / "tee")
        state = SealingApp(keys)
        if sealed_stores:
            assert kv is not None  # _sealed_stores lists only stores kv opened
            from ...tee import Sealer
            from ._store import SealedStore, store_identity

            sealer = Sealer(keys.root)
            for label in sealed_stores:
                kv.stores[label] = SealedStore(kv.stores[label], sealer, store_identity(app.name, label))
        for comp in granted:
            if not comp.source.is_file():
                continue  # the app reports the missing source with its own hint
            try:
                identity = identity_of(measure(comp.source), signer_manifest_path(comp.source))
            except (SealingError, ConfigError) as e:
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}`: {e}") from None
            state.guests[comp.id] = TeeGuest(identity, keys, sealing=comp.sealing, attestation=comp.attestation,
                                             config=sandbox_description(app, comp))
        return state

    def prepare(self, app_state: SealingApp, component_id: str) -> TeeGuest | None:
        return app_state.guests.get(component_id)

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define both interfaces on a component linker's root instance (typed host-call path).

        `seal`/`unseal`/`report` return their `ok` value and raise `ResultError(Variant(case, message))`
        with a case of the interface's `error` variant for `err`.
        """
        from ...component._hostcall import define_func

        def guest() -> TeeGuest | None:
            g: TeeGuest | None = state_of().states.get(self.name)
            return g

        def granted(what: str, op: str, fn: Any, errors: Errors) -> Any:
            # Every failure is the interface's error case, never a Python exception inside wasmtime.
            def call(*args: Any) -> Any:
                g = guest()
                if g is None or not getattr(g, what):
                    raise ResultError(Variant("denied", f"{what} is not granted to this component (`{what} = true`)"))
                return fn(g, *args)
            return observed("sealing", op, call, errors, internal="invalid")

        # every reason of a SealingError is a case of `error`
        sealing_errors: Errors = {SealingError: lambda e: Variant(e.reason, str(e))}

        def seal(g: TeeGuest, data: bytes, policy: str) -> Any:
            return g.seal(bytes(data), _POLICIES[policy])

        def unseal(g: TeeGuest, blob: bytes) -> Any:
            return g.unseal(bytes(blob))

        with root.add_instance(SEALING) as inst:
            define_func(inst, "seal", granted("sealing", "seal", seal, sealing_errors))
            define_func(inst, "unseal", granted("sealing", "unseal", unseal, sealing_errors))

        def report(g: TeeGuest, nonce: bytes, user_data: bytes) -> str:
            return g.report(bytes(nonce), bytes(user_data))

        def measurement() -> str:
            g = guest()
            return g.identity.measurement if g is not None else ""

        with root.add_instance(ATTESTATION) as inst:
            define_func(inst, "report", granted("attestation", "report", report,
                                                {AttestationError: lambda e: Variant("invalid", str(e))}))
            define_func(inst, "measurement", measurement)


