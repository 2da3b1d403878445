"""What the component layer needs of the runtime that loads and runs its components.

`wasmhive.runtime.Runtime` is the one implementation; it sits above this layer (its `component()`
builds a `Component`), so the component layer names it only through this protocol.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import wasmtime

from ..errors import WasmhiveError
from ..runtime._engine import EngineSettings
from ..runtime._limits import Limits
from ..runtime._loader import Compiled
from ..runtime._sandbox import Capture, Sandbox

__all__ = ["Runtime"]


class Runtime(Protocol):
    """The engine, compile cache and store factory a component is loaded into and run by."""

    engine: wasmtime.Engine
    settings: EngineSettings

    def as_compiled(self, source: Compiled | str | os.PathLike[str] | bytes) -> Compiled: ...

    def new_store(self, limits: Limits | None = None, data: Any = None, *, compiled: Compiled | None = None,
                  memories: int | None = None) -> wasmtime.Store: ...

    def set_deadline(self, store: wasmtime.Store, seconds: float | None) -> None: ...

    def apply_sandbox(self, store: wasmtime.Store, sandbox: Sandbox) -> dict[str, Capture]: ...

    def instantiate_error(self, e: Exception, compiled: Compiled, limits: Limits) -> WasmhiveError: ...
