"""Worker autoscaling for `wasmhive up --workers MIN --workers-max MAX`: CPU and request queueing per
worker, with hysteresis.

The supervisor samples each worker every half second: its CPU time (`/proc/<pid>/stat`) and its
request-seconds (`_inflight.py`: the integral of its requests in flight). The differences over the
interval give two loads per worker: CPU in cores, and the average number of requests in flight. A
worker is added when either has stayed above its `high` threshold for `up_after` seconds (CPU-bound
guests, or guests that wait, sleep or call out and so hold guest threads without using CPU: requests
then queue for a thread); one is removed when both have stayed below their `low` thresholds for
`down_after` seconds; after any change nothing happens for `cooldown` seconds (a new worker needs a
moment to take load). Two thresholds, two windows and the cooldown are the hysteresis: a load that
hovers around one threshold does not flap the worker count.

The queueing threshold defaults to the guest threads of a worker (`--threads`): more requests in flight
than that, on average, means requests wait for a thread. Its `low` is a quarter of it, so that the
load of two workers folded into one stays below `high`.

A removed worker gets SIGINT, not SIGTERM: it finishes its in-flight requests and exits without the
drain delay, and without turning the node's readiness to 503 (the node is not going away).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["AutoscalePolicy", "Autoscaler", "cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class AutoscalePolicy:
    """When to add or remove a worker (CPU in cores per worker, queueing in requests in flight per
    worker, times in seconds)."""

    min_workers: int
    max_workers: int
    high: float = 0.75
    low: float = 0.25
    up_after: float = 3.0
    down_after: float = 30.0
    cooldown: float = 5.0
    queue_high: float = 4.0
    queue_low: float = 1.0

    @classmethod
    def from_env(cls, min_workers: int, max_workers: int, threads: int = 4) -> AutoscalePolicy:
        """The policy for workers of `threads` guest threads each, with
        `WASMHIVE_AUTOSCALE_{HIGH,LOW,UP_AFTER,DOWN_AFTER,COOLDOWN,QUEUE_HIGH,QUEUE_LOW}` overriding defaults."""
        kw: dict[str, float] = {"queue_high": float(threads), "queue_low": threads / 4}
        for name in ("high", "low", "up_after", "down_after", "cooldown", "queue_high", "queue_low"):
            raw = os.environ.get(f"WASMHIVE_AUTOSCALE_{name.upper()}")
            if raw is not None:
                try:
                    kw[name] = float(raw)
                except ValueError:
                    raise ConfigError(f"WASMHIVE_AUTOSCALE_{name.upper()}={raw!r}: not a number") from None
        return cls(min_workers, max_workers, **kw)


@dataclass
class Autoscaler:
    """The decision: fed (time, CPU per worker, workers, requests in flight per worker), answers +1, -1 or 0."""

    policy: AutoscalePolicy
    _above_since: float | None = field(default=None, init=False)
    _below_since: float | None = field(default=None, init=False)
    _quiet_until: float = field(default=0.0, init=False)

    def observe(self, now: float, cpu_per_worker: float, workers: int, queue_per_worker: float = 0.0) -> int:
        """The step to take now: +1 (add a worker), -1 (retire one) or 0."""
        p = self.policy
        hot = cpu_per_worker > p.high or queue_per_worker > p.queue_high
        cold = cpu_per_worker < p.low and queue_per_worker < p.queue_low
        self._above_since = (self._above_since if self._above_since is not None else now) if hot else None
        self._below_since = (self._below_since if self._below_since is not None else now) if cold else None
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
