"""Resolving application variables: providers, `{{ var }}` templates, required/default/secret."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...appconfig import AppConfig, VariableDecl
from ...errors import ConfigError

__all__ = [
    "DotEnvProvider",
    "EnvProvider",
    "MapProvider",
    "Provider",
    "ResolvedVariables",
    "render",
    "resolve",
]

ENV_PREFIXES = ("WASMHIVE_VARIABLE_", "SPIN_VARIABLE_")
_TEMPLATE = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


class Provider(Protocol):
    """A source of variable values; `get` returns None when it has no value for `name`."""

    label: str

    def get(self, name: str) -> str | None:
        """The value of application variable `name` (lowercase), if this provider has one."""


@dataclass
class MapProvider:
    """Explicit values, e.g. `--variable k=v` on the command line."""

    values: Mapping[str, str]
    label: str = "--variable"

    def get(self, name: str) -> str | None:
        return self.values.get(name)


@dataclass
class EnvProvider:
    """`WASMHIVE_VARIABLE_<NAME>` (and Spin's `SPIN_VARIABLE_<NAME>`) from an environment mapping."""

    environ: Mapping[str, str]
    label: str = "environment"

    def get(self, name: str) -> str | None:
        for prefix in ENV_PREFIXES:
            value = self.environ.get(prefix + name.upper())
            if value is not None:
                return value
        return None


class DotEnvProvider:
    """A `.env` file: `NAME=value` lines, names either bare (`api_key`) or prefixed like the environment."""

    def __init__(self, path: Path) -> None:
        self.label = str(path)
        self.values: dict[str, str] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read .env file: {e}") from None
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.removeprefix("export ").partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise ConfigError(f"{path}:{n}: expected NAME=value")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            for prefix in ENV_PREFIXES:
                if key.upper().startswith(prefix):
                    key = key[len(prefix):]
                    break
            self.values[key.lower()] = value

    def get(self, name: str) -> str | None:
        return self.values.get(name)


class ResolvedVariables:
    """The values of an app's variables and of each component's rendered variables.

    Resolved once at start-up so a missing required variable is an error before the first request.
    """

    def __init__(self, app_values: dict[str, str], component_values: dict[str, dict[str, str]],
                 secrets: set[str]) -> None:
        self.app_values = app_values
        self.component_values = component_values
        self.secrets = secrets

    def component(self, component_id: str) -> dict[str, str]:
        """The variables component `component_id` may read (its `[component.<id>.variables]`, rendered)."""
        return self.component_values.get(component_id, {})

    def __repr__(self) -> str:
        shown = {k: ("<secret>" if k in self.secrets else v) for k, v in self.app_values.items()}
        return f"ResolvedVariables({shown})"


def render(template: str, values: Mapping[str, str], *, what: str = "template") -> str:
    """Replace each `{{ name }}` in `template` with `values[name]`; an unknown name is a `ConfigError`."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise ConfigError(f"{what}: {{{{ {name} }}}} names no application variable")
        return values[name]

    out = _TEMPLATE.sub(sub, template)
    if "{{" in out:
        raise ConfigError(f"{what}: malformed template {template!r} (use {{{{ lowercase_name }}}})")
    return out


def default_providers(app: AppConfig) -> list[Provider]:
    """CLI values, then the environment, then the `.env` file (first that has a value wins)."""
    opts = app.runtime
    providers: list[Provider] = [MapProvider(opts.variables),
                                 EnvProvider(opts.environ if opts.environ is not None else dict(os.environ))]
    dotenv = opts.dotenv or (app.dir / ".env")
    if opts.dotenv is not None or dotenv.is_file():
        providers.append(DotEnvProvider(dotenv))
    return providers


def _value(decl: VariableDecl, providers: list[Provider]) -> str | None:
    for p in providers:
        v = p.get(decl.name)
        if v is not None:
            return v
    return decl.default


def resolve(app: AppConfig, providers: list[Provider] | None = None) -> ResolvedVariables:
    """Resolve every application variable and render every component's variable templates."""
    providers = default_providers(app) if providers is None else providers
    for name in app.runtime.variables:
        if name not in app.variables:
            raise ConfigError(f"--variable {name}: the app declares no such variable "
                              f"(declared: {', '.join(sorted(app.variables)) or 'none'})")
    values: dict[str, str] = {}
    missing = []
    for decl in app.variables.values():
        v = _value(decl, providers)
        if v is None:
            missing.append(decl.name)
        else:
            values[decl.name] = v
    if missing:
        hints = ", ".join(f"{n} (set {ENV_PREFIXES[0]}{n.upper()}, --variable {n}=..., or {n}=... in .env)"
                          for n in missing)
        raise ConfigError(f"{app.manifest_path}: missing required variable{'s' if len(missing) > 1 else ''}: {hints}")
    per_component = {
        comp.id: {k: render(t, values, what=f"component `{comp.id}` variable `{k}`") for k, t in comp.variables.items()}
        for comp in app.components.values()
    }
    return ResolvedVariables(values, per_component, {d.name for d in app.variables.values() if d.secret})
