"""The app model: what a manifest says, as plain data (no I/O, no wasmtime)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "AppConfig",
    "BuildConfig",
    "ComponentConfig",
    "CronTrigger",
    "Executor",
    "FileMount",
    "HttpTrigger",
    "RedisTrigger",
    "RuntimeOptions",
    "StaticResponse",
    "VariableDecl",
]


@dataclass(frozen=True)
class VariableDecl:
    """An application variable from `[variables]`: required, or with a default; secrets are never logged."""

    name: str
    required: bool = False
    default: str | None = None
    secret: bool = False


@dataclass(frozen=True)
class FileMount:
    """A `files` entry: a glob (relative to the app dir, mounted at the same relative path under /) or a
    directory `source` mounted at `destination`."""

    source: str
    destination: str | None = None


@dataclass(frozen=True)
class BuildConfig:
    """`[component.<id>.build]`: the command that produces the component's source, run in `workdir`."""

    command: str | list[str]
    workdir: Path
    watch: list[str] = field(default_factory=list)


@dataclass
class ComponentConfig:
    """`[component.<id>]`. Paths are absolute (resolved against the manifest's directory)."""

    id: str
    source: Path
    description: str = ""
    files: list[FileMount] = field(default_factory=list)
    exclude_files: list[str] = field(default_factory=list)
    allowed_outbound_hosts: list[str] = field(default_factory=list)
    key_value_stores: list[str] = field(default_factory=list)
    sqlite_databases: list[str] = field(default_factory=list)
    nn_models: list[str] = field(default_factory=list)  # wasi-nn graphs by name (capabilities/nn)
    variables: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    build: BuildConfig | None = None
    limits: dict[str, str | int | float] = field(default_factory=dict)
    # Spin's `source = { url, digest }`: (url, "sha256:<hex>"); `source` is then its place in the source cache.
    remote: tuple[str, str] | None = None
    # confidential computing (wasmhive.tee): the wasmhive:tee interfaces, denied unless granted here
    sealing: bool = False
    attestation: bool = False
    ai_models: list[str] = field(default_factory=list)  # the LLM models it may use (deny by default)


@dataclass(frozen=True)
class Executor:
    """How a route's component is run: `http` (a wasi:http component) or `wagi` (CGI over WASI stdio)."""

    type: Literal["http", "wagi"] = "http"
    argv: str = "${SCRIPT_NAME} ${ARGS}"
    entrypoint: str = "_start"


@dataclass(frozen=True)
class StaticResponse:
    """A route answered by the host without running any guest."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class HttpTrigger:
    """One `[[trigger.http]]`: a route (None when private) to a component or a static response."""

    route: str | None
    component: str | None
    executor: Executor = field(default_factory=Executor)
    static_response: StaticResponse | None = None
    private: bool = False
    id: str = ""


@dataclass
class CronTrigger:
    """One `[[trigger.cron]]` (Spin's cron trigger plugin): run `component` on `cron_expression`'s schedule."""

    component: str
    cron_expression: str


@dataclass
class RedisTrigger:
    """One `[[trigger.redis]]`: messages on `channel` run `component`; `address` is the trigger's own or,
    when None, the app's `[application.trigger.redis] address`."""

    channel: str
    component: str
    address: str | None = None


@dataclass
class RuntimeOptions:
    """What the operator adds at start-up, outside the manifest (CLI flags, environment, runtime config).

    - `variables`: `--variable k=v` values (highest priority).
    - `environ`: where `WASMHIVE_VARIABLE_*`/`SPIN_VARIABLE_*` are read (default: the process environment).
    - `dotenv`: a `.env` file (default: `<app dir>/.env` when present).
    - `runtime_config`: the parsed runtime-config TOML (`[key_value_store.<label>]`, ...).
    - `runtime_config_trusted`: True when the operator named the runtime config (`--runtime-config-file`);
      False for the app's own `runtime-config.toml`, whose paths must then stay inside the app.
    - `key_value_seed`: `--key-value k=v` pairs written to the `default` store at start-up.
    - `sqlite_statements`: `--sqlite` statements ("SQL" or "@file.sql") run on the `default` database.
    """

    variables: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] | None = None
    dotenv: Path | None = None
    runtime_config: dict[str, object] = field(default_factory=dict)
    runtime_config_path: Path | None = None
    runtime_config_trusted: bool = False
    key_value_seed: list[tuple[str, str]] = field(default_factory=list)
    sqlite_statements: list[str] = field(default_factory=list)  # `--sqlite`: run on `default` at start-up


@dataclass
class AppConfig:
    """A whole application as its manifest describes it."""

    name: str
    dir: Path
    manifest_path: Path
    version: str = "0.0.0"
    description: str = ""
    base: str = "/"
    variables: dict[str, VariableDecl] = field(default_factory=dict)
    components: dict[str, ComponentConfig] = field(default_factory=dict)
    triggers: list[HttpTrigger] = field(default_factory=list)
    cron_triggers: list[CronTrigger] = field(default_factory=list)
    limits: dict[str, str | int | float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    spin: bool = False
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    # Redis trigger: `[[trigger.redis]]` and `[application.trigger.redis] address`.
    redis_triggers: list[RedisTrigger] = field(default_factory=list)
    redis_address: str | None = None

    @property
    def state_dir(self) -> Path:
        """Where the app's embedded state lives (SQLite key-value file, ...): `<app dir>/.wasmhive/`."""
        return self.dir / ".wasmhive"
