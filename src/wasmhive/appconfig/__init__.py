"""An app's configuration as plain data, and where it lives on disk.

The bottom of the app stack (standard library and `wasmhive.errors` only): the capabilities read an
`AppConfig` and the app layer builds one from a manifest, so it sits below both of them.
"""

from ._files import stage_files, state_dir
from ._model import (
    AppConfig,
    BuildConfig,
    ComponentConfig,
    CronTrigger,
    Executor,
    FileMount,
    HttpTrigger,
    RedisTrigger,
    RuntimeOptions,
    StaticResponse,
    VariableDecl,
)
from ._paths import confined, lexical_problem, mount_point_problem

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
    "confined",
    "lexical_problem",
    "mount_point_problem",
    "stage_files",
    "state_dir",
]
