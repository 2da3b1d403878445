"""The app model: manifests (`wasmhive.toml`, Spin's `spin.toml` v2), files, build orchestration."""

from ._manifest import MANIFEST_NAMES, find_manifest, load_manifest, parse_manifest
from ._model import (
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

__all__ = [
    "MANIFEST_NAMES",
    "AppConfig",
    "BuildConfig",
    "ComponentConfig",
    "Executor",
    "FileMount",
    "HttpTrigger",
    "RuntimeOptions",
    "StaticResponse",
    "VariableDecl",
    "find_manifest",
    "load_manifest",
    "parse_manifest",
]
