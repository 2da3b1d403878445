"""`Limits`: how much of the machine one guest instance may use."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import ConfigError

__all__ = ["Limits", "parse_duration", "parse_size"]

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
}
_TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_size(text: str | int) -> int:
    """Parse `64MiB`, `10MB`, `65536` into bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ConfigError(f"not a size: {text!r} (use e.g. 64MiB, 10MB, 65536)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_duration(text: str | float) -> float:
    """Parse `5s`, `250ms`, `1.5` (seconds) into seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)\s*", text)
    if not m or m.group(2).lower() not in _TIME_UNITS:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 5s, 250ms, 2m)")
    return float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]


@dataclass(frozen=True)
class Limits:
    """Per-instance resource limits. `None` means "no limit" for that resource.

    - `memory`: bytes of linear memory per instance, all its memories together. wasmtime can only
      cap each memory, so the total is split evenly across the memories the guest's binary defines
      (every core module, nested components included): a guest defining N memories may grow each to
      `memory // N` bytes, and the store may create at most N memories (or `memories`, if lower), so
      their sum never exceeds `memory`. C/WAT modules, componentize-py and jco components define
      one memory, which gets the whole limit. (A store created without its module, e.g. by
      `Runtime.new_store(limits)` alone, caps each memory at `memory`.)
    - `table_elements`: elements per table.
    - `instances`: core instances a store may create (a component creates several).
    - `memories`, `tables`: how many of each a store may create (default 16 each of memories; see
      `memory` for how the memory count is tightened to what the guest defines).
    - `fuel`: instructions (roughly) before the guest is stopped; needs a Runtime with `fuel=True`.
    - `timeout`: wall-clock seconds before the guest is interrupted (epoch interruption).

    The Wasm stack size is an engine setting: `Runtime(max_wasm_stack=...)`.
    """

    memory: int | None = 128 * 1024 * 1024
    table_elements: int | None = 100_000
    instances: int | None = 1_000
    memories: int | None = 16
    tables: int | None = 1_000
    fuel: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("memory", "table_elements", "instances", "memories", "tables", "fuel"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"limit {name} must be a non-negative integer, got {value!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"limit timeout must be a positive number of seconds, got {self.timeout!r}")

    def memory_caps(self, defined: int | None) -> tuple[int, int]:
        """`(bytes per memory, memory count)` for wasmtime's store limiter (-1: no limit), so that a guest
        defining `defined` memories (None: unknown) stays within `memory` in total."""
        count = -1 if self.memories is None else self.memories
        if self.memory is None:
            return -1, count
        if defined is None:
            return self.memory, count
        n = max(defined, 1)
        return self.memory // n, n if count < 0 else min(count, n)

    def with_(self, **changes: object) -> Limits:
        """A copy with some limits changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def unlimited(cls) -> Limits:
        """No limits at all (trusted guests and benchmarks only)."""
        return cls(memory=None, table_elements=None, instances=None, memories=None, tables=None)
