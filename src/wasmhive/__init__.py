"""wasmhive: a WebAssembly application platform for Python, on wasmtime.

The public names are imported on first use (PEP 562), so `import wasmhive` (and the CLI's start-up)
does not load wasmtime or the app layer until a name that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .app import App
    from .errors import (
        BuildError,
        CapabilityDenied,
        ConfigError,
        DeadlineExceeded,
        GuestExit,
        GuestTrap,
        InvalidModule,
        LimitExceeded,
        LinkError,
        WasmhiveError,
    )
    from .runtime import Compiled, EngineSettings, Instance, Limits, Preopen, RunResult, Runtime, Sandbox

# Public name -> the submodule that defines it.
_LAZY = {
    "App": "app",
    **dict.fromkeys(["BuildError", "CapabilityDenied", "ConfigError", "DeadlineExceeded", "GuestExit",
                     "GuestTrap", "InvalidModule", "LimitExceeded", "LinkError", "WasmhiveError"], "errors"),
    **dict.fromkeys(["Compiled", "EngineSettings", "Instance", "Limits", "Preopen", "RunResult", "Runtime",
                     "Sandbox"], "runtime"),
}

__all__ = [
    "App",
    "BuildError",
    "CapabilityDenied",
    "Compiled",
    "ConfigError",
    "DeadlineExceeded",
    "EngineSettings",
    "GuestExit",
    "GuestTrap",
    "Instance",
    "InvalidModule",
    "LimitExceeded",
    "Limits",
    "LinkError",
    "Preopen",
    "RunResult",
    "Runtime",
    "Sandbox",
    "WasmhiveError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
