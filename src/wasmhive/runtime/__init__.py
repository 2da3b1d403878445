"""The runtime core: engine and settings, compile cache, limits, sandbox, loading and running guests."""

from ._cache import CompileCache, default_cache_dir
from ._engine import EngineSettings
from ._instance import Exports, Instance
from ._limits import Limits, parse_duration, parse_size
from ._loader import Compiled, detect_kind
from ._memory import GuestMemory
from ._runtime import RunResult, Runtime
from ._sandbox import Capture, Preopen, Sandbox

__all__ = [
    "Capture",
    "CompileCache",
    "Compiled",
    "EngineSettings",
    "Exports",
    "GuestMemory",
    "Instance",
    "Limits",
    "Preopen",
    "RunResult",
    "Runtime",
    "Sandbox",
    "default_cache_dir",
    "detect_kind",
    "parse_duration",
    "parse_size",
]
