"""Readiness and liveness for load balancers and Kubernetes probes, answered by the host itself.

    GET /.well-known/wasmhive/live   200 while this process's event loop answers (also while draining)
    GET /.well-known/wasmhive/ready  200 once the app is compiled and linked and the server has started;
                                     503 before that and from the moment a drain (SIGTERM) begins

Readiness is what an LB or a Kubernetes Service routes on: a node that drains reports 503 at once, so
health checks take it out while it finishes the requests it already has. `wasmhive up` builds the app
(compile or compile-cache load, then linking) before the server's lifespan starts, so "started" here
means every component is ready to instantiate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._drain import DrainState

__all__ = ["LIVE_PATH", "READY_PATH", "Health"]

LIVE_PATH = "/.well-known/wasmhive/live"
READY_PATH = "/.well-known/wasmhive/ready"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Health:
    """ASGI wrapper answering the live/ready paths and passing everything else to `app`.

    `drain` tells whether this process is shutting down; the lifespan startup of `app` completing
    marks the process started.
    """

    def __init__(self, app: Any, drain: DrainState) -> None:
        self.app = app
        self.drain = drain
        self.started = False

    @property
    def ready(self) -> bool:
        """Whether a load balancer should send this process new requests."""
        return self.started and not self.drain.draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] == "http" and scope["path"] in (LIVE_PATH, READY_PATH):
            if scope["path"] == LIVE_PATH:
                await _plain(send, 200, b"live\n")
            elif self.ready:
                await _plain(send, 200, b"ready\n")
            else:
                await _plain(send, 503, b"draining\n" if self.drain.draining else b"starting\n")
            return
        await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                # Main thread, loop running, uvicorn's own signal handlers installed: chain ours.
                self.drain.install()
                self.started = True
            await send(message)
        return wrapped


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
