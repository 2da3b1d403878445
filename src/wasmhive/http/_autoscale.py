"""Worker autoscaling for `wasmhive up --workers MIN --workers-max MAX`: CPU per worker, with hysteresis.

The supervisor samples each worker's CPU time (`/proc/<pid>/stat`) every half second. A worker is added
when the average CPU per worker has stayed above `high` for `up_after` seconds, one is removed when it
has stayed below `low` for `down_after` seconds; after any change nothing happens for `cooldown`
seconds (a new worker needs a moment to take load). Two thresholds, two windows and the cooldown are
the hysteresis: a load that hovers around one threshold does not flap the worker count.

A removed worker gets SIGINT, not SIGTERM: it finishes its in-flight requests and exits without the
drain delay, and without turning the node's readiness to 503 (the node is not going away).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["AutoscalePolicy", "Autoscaler", "cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class AutoscalePolicy:
    """When to add or remove a worker (CPU in cores per worker, times in seconds)."""

    min_workers: int
    max_workers: int
    high: float = 0.75
    low: float = 0.25
    up_after: float = 3.0
    down_after: float = 30.0
    cooldown: float = 5.0

    @classmethod
    def from_env(cls, min_workers: int, max_workers: int) -> AutoscalePolicy:
        """The policy, with `WASMHIVE_AUTOSCALE_{HIGH,LOW,UP_AFTER,DOWN_AFTER,COOLDOWN}` overriding defaults."""
        kw: dict[str, float] = {}
        for name in ("high", "low", "up_after", "down_after", "cooldown"):
            raw = os.environ.get(f"WASMHIVE_AUTOSCALE_{name.upper()}")
            if raw is not None:
                kw[name] = float(raw)
        return cls(min_workers, max_workers, **kw)


@dataclass
class Autoscaler:
    """The decision: fed (time, CPU per worker, workers), answers +1, -1 or 0."""

    policy: AutoscalePolicy
    _above_since: float | None = field(default=None, init=False)
    _below_since: float | None = field(default=None, init=False)
    _quiet_until: float = field(default=0.0, init=False)

    def observe(self, now: float, cpu_per_worker: float, workers: int) -> int:
        p = self.policy
        self._above_since = (self._above_since if self._above_since is not None else now) \
            if cpu_per_worker > p.high else None
        self._below_since = (self._below_since if self._below_since is not None else now) \
            if cpu_per_worker < p.low else None
        if now < self._quiet_until:
            return 0
        step = 0
        if self._above_since is not None and now - self._above_since >= p.up_after and workers < p.max_workers:
            step = 1
        elif self._below_since is not None and now - self._below_since >= p.down_after and workers > p.min_workers:
            step = -1
        if step:
            self._quiet_until = now + p.cooldown
            self._above_since = self._below_since = None
        return step


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    fields = data[data.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS
