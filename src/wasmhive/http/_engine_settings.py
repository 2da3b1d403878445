"""Engine settings a serving runtime uses, for a single component and for an app alike."""

from __future__ import annotations

import os

__all__ = ["epoch_tick", "pool_max_memory"]


def pool_max_memory(memory: int) -> int:
    """A pool slot's memory size for serving: 4 GiB reserves no more address space than the engine's
    default 4 GiB memory reservation does, and leaves each instance's `Limits.memory` the only cap."""
    return max(memory, 4 * 1024**3)


def epoch_tick() -> float:
    """The epoch tick of a serving runtime (components and apps alike)."""
    # Deadlines of requests are seconds long: a 20 ms epoch tick is precise enough, and the ticker thread
    # then takes the GIL 50 times a second instead of 200.
    return float(os.environ.get("WASMHIVE_EPOCH_TICK", "0.02"))
