"""Self-requests: outbound HTTP from a component to its own app, served in-process (no socket).

Spin's two forms, both answered here and reached from `wasi:http/outgoing-handler`:

- `http://self/<path>` (or a request with no authority): routed by the app's public router, exactly as
  an external request to `<path>` would be (Spin headers, static responses, 404 when nothing matches).
  Needs `http://self` in the caller's `allowed_outbound_hosts`.
- `http://<component-id>.spin.internal/<path>` (service chaining): sent straight to that component,
  whether its route is public or private (`route = { private = true }`); this is the only way to reach a
  private component. Needs a rule matching that host (`http://<id>.spin.internal`, `http://*.spin.internal`).

The callee runs on its own thread under its own component limits and deadline; the caller waits no
longer than its request options and its own deadline allow. At most `max_in_flight` self-requests run
at once per app: a guest that calls itself recursively (or fans out) gets 503 answers past that, instead
of holding an unbounded number of threads and instances until the deadlines end them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from ._types import Exchange, Request

__all__ = ["CHAIN_SUFFIX", "SelfRequests"]

log = logging.getLogger("wasmhive.http.self")
CHAIN_SUFFIX = ".spin.internal"


class SelfRequests:
    """Dispatches an app's requests to itself. `router`: the app's public `Router` (targets are route
    indices); `executor_for(index, route)` gives the executor for a routed match; `chained` maps a
    component id to the executor that serves `<id>.spin.internal`."""

    def __init__(self, router: Any, executor_for: Callable[[Any], Any], chained: Mapping[str, Any],
                 max_in_flight: int = 16) -> None:
        self.router = router
        self.executor_for = executor_for
        self.chained = dict(chained)
        self.set_max_in_flight(max_in_flight)

    def set_max_in_flight(self, n: int) -> None:
        """Cap the self-requests running at once (set before serving; in-flight ones keep their slots)."""
        if n < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = n
        self._slots = threading.BoundedSemaphore(n)

    def send(self, host: str, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes,
             scheme: str, authority: str, notify: Callable[[], None]) -> Exchange:
        """The WASI layer's `LocalTransport`: the outgoing handler's request parts, started as `start` does
        (a self-request comes from inside the host: its client address is loopback)."""
        return self.start(host, Request(method, path, query, headers, body, scheme, authority,
                                        client="127.0.0.1:0"), notify)

    def start(self, host: str, req: Request, notify: Callable[[], None]) -> Exchange:
        """Start serving `req` (addressed to `host`: "self" or "<id>.spin.internal") on a new thread and
        return its exchange; `notify` is called (any thread) on its head and body progress."""
        executor: Any = None
        route = ""
        match = None
        if host.endswith(CHAIN_SUFFIX):
            executor = self.chained.get(host[: -len(CHAIN_SUFFIX)])
            route = "/..."
        elif self.router.is_health(req.path):
            ex = Exchange(req)
            ex.respond(200, [("content-type", b"text/plain")], b"OK")
            return ex
        else:
            match = self.router.match(unquote(req.path))
            if match is not None:
                executor, route = self.executor_for(match.route), match.route.raw
        ex = Exchange(req, route=route, component=getattr(executor, "name", ""), match=match)
        if executor is None:
            ex.respond(404, [("content-type", b"text/plain")], b"not found\n")
            return ex
        slots = self._slots
        if not slots.acquire(blocking=False):
            log.warning("self-request to %s refused: %d self-requests already in flight (recursion?)",
                        ex.component or host, self.max_in_flight)
            ex.respond(503, [("content-type", b"text/plain")], b"too many self-requests in flight\n")
            return ex
        ex.notify = notify
        threading.Thread(target=self._run, args=(executor, ex, slots), name=f"wasmhive-self-{ex.component}",
                         daemon=True).start()
        return ex

    def _run(self, executor: Any, ex: Exchange, slots: threading.BoundedSemaphore) -> None:
        try:
            executor.run(ex)
        except Exception as e:  # executors should not raise; the caller still gets an answer
            log.exception("self-request to %s failed", getattr(executor, "name", executor))
            ex.failure = str(e)
            ex.respond(500, [], b"")
        finally:
            slots.release()
