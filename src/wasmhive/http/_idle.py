"""Scale-to-zero of idle components (`wasmhive up --idle-unload 5m`): one node can host many apps.

A component that has served no request for the idle time drops its prepared state (the compiled code,
its linker, the pre-instantiated export); the next request prepares it again, loading the code from the
on-disk compile cache (no compile), and is served as soon as that is done: its "cold start". Components
whose executor is not a `WasiHttpExecutor` dataclass (WAGI modules, static responses) stay loaded.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ._types import Exchange

__all__ = ["IdleExecutor", "unload_idle"]

log = logging.getLogger("wasmhive.http")


class IdleExecutor:
    """An executor that drops its inner executor after `idle` seconds unused and rebuilds it on demand."""

    def __init__(self, inner: Any, idle: float) -> None:
        self.idle = idle
        self.name: str = getattr(inner, "name", "component")
        self.runtime = getattr(inner, "runtime", None)
        self.cold_starts = 0
        self.last_cold_start: float | None = None  # seconds the last re-preparation took
        self._fields = {f.name: getattr(inner, f.name) for f in dataclasses.fields(inner) if f.init}
        compiled = self._fields.get("source")
        # Rebuild from the file when there is one: holding the `Compiled` would keep the code in memory.
        path = str(getattr(compiled, "name", "")) if not isinstance(compiled, (str, Path, bytes)) else ""
        if path and Path(path).is_file():
            self._fields["source"] = path
        self._type = type(inner)
        self._inner: Any = inner
        self._active = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the component's prepared state is in memory now."""
        return self._inner is not None

    def _acquire(self) -> Any:
        with self._lock:
            self._active += 1
            inner = self._inner
        if inner is not None:
            return inner
        # Requests arriving together each wait for the one preparation under the lock.
        with self._lock:
            if self._inner is None:
                t0 = time.perf_counter()
                try:
                    self._inner = self._type(**self._fields)
                except BaseException:
                    self._active -= 1
                    raise
                self.last_cold_start = time.perf_counter() - t0
                self.cold_starts += 1
                log.info("component `%s` prepared again after idle: %.1f ms", self.name, self.last_cold_start * 1e3)
            return self._inner

    def run(self, ex: Exchange) -> None:
        """Serve one exchange with the prepared component (preparing it first if it was unloaded)."""
        try:
            inner = self._acquire()
        except Exception as e:  # the compile cache or the file went away: a 500, never a crash
            log.error("component `%s`: could not be prepared again: %s", self.name, e)
            ex.failure = f"could not be prepared again: {e}"
            ex.respond(500, [], b"")
            return
        try:
            inner.run(ex)
        finally:
            with self._lock:
                self._active -= 1
                self._last = time.monotonic()

    def sweep(self, now: float | None = None) -> bool:
        """Drop the prepared state if idle long enough (and nothing is running); whether it was dropped."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._inner is None or self._active or now - self._last < self.idle:
                return False
            self._inner = None
        log.info("component `%s` unloaded after %.0f s idle", self.name, self.idle)
        return True


def unload_idle(http: Any, idle: float) -> threading.Event:
    """Wrap each `WasiHttpExecutor`-like route target of `http` (an `HttpApp`) in an `IdleExecutor` and
    start a daemon thread sweeping them; set the returned event to stop it."""
    wrapped = []
    routes = []
    for route in http.router.routes:
        target = route.target
        if dataclasses.is_dataclass(target) and hasattr(target, "run") and "source" in {
                f.name for f in dataclasses.fields(target)}:
            target = IdleExecutor(target, idle)
            wrapped.append(target)
        routes.append(dataclasses.replace(route, target=target))
    http.router.routes = routes
    stop = threading.Event()

    def sweeper() -> None:
        while not stop.wait(max(0.05, idle / 4)):
            for ex in wrapped:
                ex.sweep()

    if wrapped:
        threading.Thread(target=sweeper, name="wasmhive-idle-sweeper", daemon=True).start()
    return stop
