"""SQLite database configuration: Spin's `[sqlite_database.<name>]` runtime-config tables, the
components' `sqlite_databases` grants, and `--sqlite` start-up statements.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...appconfig import AppConfig
from ...errors import ConfigError
from ..key_value._config import _sqlite_path
from ._database import Database

__all__ = ["DEFAULT_FILE", "SqliteApp", "open_databases"]

DEFAULT_FILE = "sqlite_db.db"  # Spin's name for the `default` database (`.spin/sqlite_db.db`)
_KEYS = {"spin": {"type", "path"}}
# Spin types we do not serve, and why the operator should know at start-up rather than at the first query.
_UNSUPPORTED = {"libsql": "remote libSQL/Turso databases are not supported (no network SQLite client)"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


@dataclass
class SqliteApp:
    """Per-app state: the databases by name, and which names each component may open."""

    databases: dict[str, Database]
    allowed: dict[str, frozenset[str]]


def _default_file(name: str, where: object) -> str:
    if name == "default":
        return DEFAULT_FILE
    if not _SAFE_NAME.fullmatch(name):
        raise ConfigError(f"{where}: [sqlite_database.{name}] needs a `path` (the name cannot be a file name)")
    return f"sqlite_db_{name}.db"


def open_databases(app: AppConfig) -> SqliteApp:
    """Validate the SQLite config against the components' `sqlite_databases`, open every database in
    use, then run the `--sqlite` statements on `default` (a failing one refuses start-up).

    `default` always exists (a file in the app's state dir unless configured); any other name a
    component lists must be configured, or start-up fails naming it (as Spin does).
    """
    where = app.runtime.runtime_config_path or "runtime config"
    tables = app.runtime.runtime_config.get("sqlite_database", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: sqlite_database must be a table of [sqlite_database.<name>] tables")
    specs: dict[str, dict[str, Any]] = {"default": {"type": "spin"}}
    for name, spec in tables.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: [sqlite_database.{name}] must be a table")
        specs[name] = spec
    for comp in app.components.values():
        for name in comp.sqlite_databases:
            if name not in specs:
                raise ConfigError(f"{app.manifest_path}: component `{comp.id}` uses SQLite database {name!r}, "
                                  f"which is not configured (add [sqlite_database.{name}] to the runtime config)")
    used = {n for comp in app.components.values() for n in comp.sqlite_databases}
    if app.runtime.sqlite_statements:
        used.add("default")
    databases: dict[str, Database] = {}
    for name, spec in specs.items():
        kind = spec.get("type")
        kind = kind if isinstance(kind, str) else repr(kind)  # any TOML value: never an unhashable lookup
        if kind in _UNSUPPORTED:
            raise ConfigError(f"{where}: [sqlite_database.{name}] type {kind!r}: {_UNSUPPORTED[kind]}; "
                              "use type = \"spin\" (a local SQLite file)")
        if kind not in _KEYS:
            raise ConfigError(f"{where}: [sqlite_database.{name}] type must be \"spin\" (a local SQLite file), "
                              f"not {kind!r}")
        unknown = set(spec) - _KEYS[kind]
        if unknown:
            raise ConfigError(f"{where}: [sqlite_database.{name}]: unknown field(s) {', '.join(sorted(unknown))}")
        path = _sqlite_path(app, name, spec.get("path"), where, table="sqlite_database",
                            default=_default_file(name, where))
        if name not in used:
            continue  # validated, but nobody may open it: no file is created
        try:
            databases[name] = Database(name, path)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"{where}: [sqlite_database.{name}]: cannot open {path}: {e}") from None
    result = SqliteApp(databases, {c.id: frozenset(c.sqlite_databases) for c in app.components.values()})
    for statement in app.runtime.sqlite_statements:
        _run_statement(databases["default"], statement)
    return result


def _run_statement(db: Database, statement: str) -> None:
    """One `--sqlite` value: SQL, or `@path` to a file of SQL (relative to the working directory, as Spin)."""
    label = "--sqlite"
    sql = statement
    if statement.startswith("@"):
        path = Path(statement[1:])
        label = f"--sqlite {statement}"
        try:
            sql = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{label}: cannot read {path}: {e}") from None
    try:
        db.run_script(sql)
    except sqlite3.Error as e:
        raise ConfigError(f"{label}: {e}" + ("" if statement.startswith("@") else f" (in {statement!r})")) from None
