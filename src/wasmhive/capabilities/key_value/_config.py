"""Key-value store configuration: Spin-compatible `[key_value_store.<label>]` runtime-config tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...appconfig import AppConfig, confined, lexical_problem, state_dir
from ...errors import ConfigError
from ._backend import KeyValueBackend
from ._redis import RedisStore
from ._sqlite import SqliteDatabase

__all__ = ["DEFAULT_DB", "KeyValueApp", "open_stores"]

DEFAULT_DB = "key_value.db"
_KEYS = {"spin": {"type", "path", "synchronous"}, "sqlite": {"type", "path", "synchronous"},
         "redis": {"type", "url", "prefix"}}
for _k in _KEYS.values():
    _k.add("sealed")  # values sealed at rest: the sealing capability wraps the backend (capabilities/sealing)


@dataclass
class KeyValueApp:
    """Per-app key-value state: open backends by label, and which labels each component may open."""

    stores: dict[str, KeyValueBackend]
    allowed: dict[str, frozenset[str]]
    databases: list[SqliteDatabase] = field(default_factory=list)

    def close(self) -> None:
        for s in self.stores.values():
            s.close()
        for db in self.databases:
            db.close()


def _sqlite_path(app: AppConfig, label: str, given: object, where: object, *, table: str = "key_value_store",
                 default: str = DEFAULT_DB) -> Path:
    """Where a SQLite file lives (`[<table>.<label>] path`, else `default` in the state dir). A runtime
    config that came with the app (its `runtime-config.toml`) is as untrusted as the manifest: its paths
    must stay inside the app directory. One the operator passed explicitly (`--runtime-config-file`) may
    name any path; relative paths resolve against the app."""
    if given is None:
        given = f"{state_dir(app).name}/{default}"  # inside the app, unless a symlink says otherwise
    elif not isinstance(given, str) or not given or "\0" in given:
        raise ConfigError(f"{where}: [{table}.{label}] path must be a file path")
    elif app.runtime.runtime_config_trusted:
        path = Path(given)
        return path if path.is_absolute() else app.dir / path
    problem = lexical_problem(given)
    inside = confined(app.dir, given) if problem is None else None
    if inside is None:
        raise ConfigError(f"{where}: [{table}.{label}] path {given!r} "
                          f"{problem or 'leads outside the app directory'} (this runtime config came with the "
                          "app; pass --runtime-config-file to name a path outside it)")
    return inside


def open_stores(app: AppConfig) -> KeyValueApp:
    """Validate store config against the components' `key_value_stores` and open every backend.

    `default` is always available (SQLite in the app's state dir unless configured otherwise); any
    other label a component lists must be configured, or start-up fails naming it.
    """
    where = app.runtime.runtime_config_path or "runtime config"
    tables = app.runtime.runtime_config.get("key_value_store", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: key_value_store must be a table of [key_value_store.<label>] tables")
    specs: dict[str, dict[str, Any]] = {"default": {"type": "spin"}}
    for label, spec in tables.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: [key_value_store.{label}] must be a table")
        specs[label] = spec
    used = {label for comp in app.components.values() for label in comp.key_value_stores}
    for comp in app.components.values():
        for label in comp.key_value_stores:
            if label not in specs:
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}` uses key-value store {label!r}, "
                                  f"which is not configured (add [key_value_store.{label}] to the runtime config)")
    databases: dict[Path, SqliteDatabase] = {}
    stores: dict[str, KeyValueBackend] = {}
    result = KeyValueApp(stores, {c.id: frozenset(c.key_value_stores) for c in app.components.values()})
    try:
        for label, spec in specs.items():
            if label not in used and label != "default" and label not in tables:
                continue
            kind = spec.get("type")
            if kind not in _KEYS:
                raise ConfigError(f"{where}: [key_value_store.{label}] type must be \"spin\" (SQLite) or "
                                  f"\"redis\", not {kind!r}")
            unknown = set(spec) - _KEYS[kind]
            if unknown:
                raise ConfigError(f"{where}: [key_value_store.{label}]: unknown field(s) "
                                  f"{', '.join(sorted(unknown))} for type {kind!r}")
            if kind == "redis":
                url = spec.get("url")
                if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
                    raise ConfigError(f"{where}: [key_value_store.{label}] needs url = \"redis://host:port\"")
                if label not in used and label != "default":
                    continue
                store = RedisStore(label, url, prefix=str(spec.get("prefix", "")))
                store.ping()
                stores[label] = store
            else:
                path = _sqlite_path(app, label, spec.get("path"), where)
                db = databases.get(path)
                if db is None:
                    try:
                        db = databases[path] = SqliteDatabase(path, synchronous=str(spec.get("synchronous", "normal")))
                    except (ValueError, OSError) as e:
                        raise ConfigError(f"{where}: [key_value_store.{label}]: {e}") from None
                    except Exception as e:  # sqlite3.Error: unusable file
                        raise ConfigError(f"{where}: [key_value_store.{label}]: cannot open {path}: {e}") from None
                stores[label] = db.store(label)
        result.databases = list(databases.values())
        for key, value in app.runtime.key_value_seed:
            stores["default"].set(key, value.encode())
    except BaseException:
        result.databases = list(databases.values())
        result.close()
        raise
    return result
