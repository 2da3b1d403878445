"""The app model: manifests (`wasmhive.toml`, Spin's `spin.toml` v2), files, build orchestration."""

from ..appconfig import (
    AppConfig,
    BuildConfig,
    ComponentConfig,
    Executor,
    FileMount,
    HttpTrigger,
    RuntimeOptions,
    StaticResponse,
    VariableDecl,
)
from ._app import App, StaticExecutor, load_runtime_config
from ._manifest import MANIFEST_NAMES, find_manifest, load_manifest, parse_manifest

__all__ = [
    "MANIFEST_NAMES",
    "App",
    "AppConfig",
    "BuildConfig",
    "ComponentConfig",
    "Executor",
    "FileMount",
    "HttpTrigger",
    "RuntimeOptions",
    "StaticExecutor",
    "StaticResponse",
    "VariableDecl",
    "find_manifest",
    "load_manifest",
    "load_runtime_config",
    "parse_manifest",
]
