"""Prometheus metrics of a served app (`wasmhive up --metrics`: `GET /metrics`), safe with several workers.

With one worker the metrics live in this process's registry. With `--workers N` every worker writes its
values to files in `$PROMETHEUS_MULTIPROC_DIR` (`prometheus-client`'s multi-process mode; `wasmhive up`
makes a private directory when the variable is unset) and whichever worker answers a scrape sums them
all, so a scrape sees the whole node whatever worker the kernel hands it to.

Metrics (prefix `wasmhive_`):
  requests_total{route,component,method,status}   every answered request; early answers (404, 413,
                                                   431, 503) have route and component ""
  request_duration_seconds{route,component}        histogram, head received to last body byte sent
  requests_in_flight                               gauge, summed over live workers
  instances_started_total{component}               fresh instances (one per request that ran a guest)
  guest_failures_total{component,kind}             kind="trap" (trap, no response, error code) or
                                                   kind="deadline" (past --timeout: 504)
  compile_cache_lookups_total{result}              result="hit"|"miss", at start-up of each worker
  capability_calls_total{capability,op,outcome}    guest calls of host capabilities: capability=
                                                   "key_value" (op get, set, open, ...), "sqlite" (op open,
                                                   execute) or "outbound_http" (op the method); outcome
                                                   "ok" or the error case/code
  capability_call_duration_seconds{capability,op}  histogram of those calls (outbound: until the head)
  workers                                          gauge, live worker processes of this node
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import ConfigError

__all__ = ["METRICS_PATH", "MULTIPROC_ENV", "Metrics", "check_available"]

METRICS_PATH = "/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# Request latency buckets, seconds: a hello is ~1 ms, the default deadline 30 s.
# Capability call buckets, seconds: an SQLite get is ~20 µs, an outbound call up to the deadline.
_CALL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0)
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def check_available() -> None:
    """Raise `ConfigError` when prometheus-client is not installed."""
    _client()


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError("--metrics needs prometheus-client: pip install 'wasmhive[metrics]'") from None
    return prometheus_client


def _multiprocess() -> Any:
    import importlib

    return importlib.import_module("prometheus_client.multiprocess")


class Metrics:
    """ASGI wrapper serving `/metrics`, and the observer `HttpApp` reports requests and guest runs to.

    `http` is the `HttpApp` inside `app` (its router names the components; its `observer` is set here).
    """

    def __init__(self, app: Any, http: Any) -> None:
        pc = _client()
        self.app = app
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # One registry per wrapper (never the global one: two apps in one process must not collide). In
        # multi-process mode values go to files whatever the registry; a scrape reads them all.
        self.registry = None if self.multiprocess else pc.CollectorRegistry()
        reg = {"registry": self.registry}
        self.requests = pc.Counter("wasmhive_requests", "Requests answered.",
                                   ["route", "component", "method", "status"], **reg)
        self.duration = pc.Histogram("wasmhive_request_duration_seconds", "Request latency.",
                                     ["route", "component"], buckets=_BUCKETS, **reg)
        self.in_flight = pc.Gauge("wasmhive_requests_in_flight", "Requests being served.",
                                  multiprocess_mode="livesum", **reg)
        self.instances = pc.Counter("wasmhive_instances_started", "Guest instances started.", ["component"],
                                    **reg)
        self.failures = pc.Counter("wasmhive_guest_failures", "Guest runs that failed.", ["component", "kind"],
                                   **reg)
        self.cache = pc.Counter("wasmhive_compile_cache_lookups", "Compile-cache lookups at start-up.",
                                ["result"], **reg)
        self.calls = pc.Counter("wasmhive_capability_calls", "Capability calls by guests.",
                                ["capability", "op", "outcome"], **reg)
        self.call_duration = pc.Histogram("wasmhive_capability_call_duration_seconds", "Capability call latency.",
                                          ["capability", "op"], buckets=_CALL_BUCKETS, **reg)
        self.workers = pc.Gauge("wasmhive_workers", "Live worker processes.", multiprocess_mode="livesum",
                                **reg)
        self._routes = {getattr(r.target, "name", ""): r.raw for r in http.router.routes}
        self._count_cache(http)
        http.observer = self

    def _count_cache(self, http: Any) -> None:
        seen: set[int] = set()
        for route in http.router.routes:
            rt = getattr(route.target, "runtime", None)
            cache = getattr(rt, "cache", None)
            if cache is None or id(cache) in seen:
                continue
            seen.add(id(cache))
            self.cache.labels("hit").inc(cache.hits)
            self.cache.labels("miss").inc(cache.misses)

    # -- the observer `HttpApp` calls (guest threads and the event loop) -----------------------------
    def request(self, method: str, status: int, seconds: float, component: str) -> None:
        """One answered request."""
        route = self._routes.get(component, "") if component else ""
        self.requests.labels(route, component, method if method in _METHODS else "other", str(status)).inc()
        self.duration.labels(route, component).observe(seconds)

    def ran(self, component: str, status: int | None, failure: str | None) -> None:
        """One guest instance ran (and possibly failed)."""
        self.instances.labels(component).inc()
        if failure is not None:
            self.failures.labels(component, "deadline" if status == 504 else "trap").inc()

    def capability(self, capability: str, op: str, outcome: str, seconds: float) -> None:
        """One capability call of a guest (through `_observe.RequestHooks`)."""
        if capability == "outbound_http" and op not in _METHODS:
            op = "other"  # a guest's own method names must not grow the label set
        self.calls.labels(capability, op, outcome).inc()
        self.call_duration.labels(capability, op).observe(seconds)

    # -- ASGI ----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH:
            body, ctype = await asyncio.to_thread(self.render)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.dec()

    def render(self) -> tuple[bytes, str]:
        """The exposition text of this node (all workers in multi-process mode) and its content type."""
        pc = _client()
        registry = self.registry
        if registry is None:
            registry = pc.CollectorRegistry()
            _multiprocess().MultiProcessCollector(registry)
        return pc.generate_latest(registry), pc.CONTENT_TYPE_LATEST

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.workers.inc()
            elif message["type"] == "lifespan.shutdown.complete" and self.multiprocess:
                # This worker's live gauges (in flight, workers) stop counting.
                _multiprocess().mark_process_dead(os.getpid())
            await send(message)
        return wrapped
