"""wasmhive: a WebAssembly application platform for Python, on wasmtime."""

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

__version__ = "0.1.0"

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
