"""Composition from a manifest: Spin's `[component.<id>.dependencies]` turned into `imports=` providers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ._host_runtime import Runtime
    from ._linking import Dependency

__all__ = ["dependencies_from_manifest"]


def dependencies_from_manifest(runtime: Runtime, dependencies: Mapping[str, Any], *, base_dir: str | Path = ".",
                               components: Mapping[str, Any] | None = None) -> dict[str, Dependency]:
    """Turn a manifest's dependency table into the `imports=` mapping for `Runtime.component`.

    `dependencies` is the parsed `[component.<id>.dependencies]` table: import name (an interface
    `"docs:math/calculator"`, with or without `@version`) → one of
      - `{ path = "calc.wasm" }` (relative to `base_dir`), optionally with `export = "other:pkg/iface"`
        when the provider exports the interface under another name;
      - `{ component = "<id>" }`, another component of the same app: `components` maps app component
        ids to their sources (path or bytes).
    Registry (`version = ...`, `registry = ...`) and `url` sources are refused with a clear
    ConfigError: wasmhive resolves dependencies offline.

    Each dependency becomes a `Component` instantiated in the same store as the depending
    component's instances (host-mediated: calls pass through the host without conversion to Python).
    """
    from ._component import Component
    from ._linking import Dependency

    out: dict[str, Dependency] = {}
    cache: dict[str, Component] = {}
    for name, spec in dependencies.items():
        if isinstance(spec, str):
            raise ConfigError(f"dependency {name!r} = {spec!r}: registry dependencies are not supported; "
                              "use { path = \"...\" } or { component = \"<id>\" }")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"dependency {name!r}: expected a table, got {type(spec).__name__}")
        unknown = set(spec) - {"path", "component", "export"}
        if unknown & {"url", "registry", "version", "package", "digest"}:
            raise ConfigError(f"dependency {name!r}: {', '.join(sorted(unknown))} sources are not supported "
                              "(offline only): use path or component")
        if unknown:
            raise ConfigError(f"dependency {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
        if "path" in spec:
            source: Any = Path(base_dir) / str(spec["path"])
            key = f"path:{source}"
        elif "component" in spec:
            cid = str(spec["component"])
            if components is None or cid not in components:
                raise ConfigError(f"dependency {name!r}: no component with id {cid!r} in this app")
            source, key = components[cid], f"component:{cid}"
        else:
            raise ConfigError(f"dependency {name!r}: needs path or component")
        if key not in cache:
            cache[key] = Component(runtime, source)
        export = spec.get("export")
        out[name] = Dependency(cache[key], None if export is None else str(export))
    return out

