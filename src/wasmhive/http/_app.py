"""`HttpApp`: the HTTP trigger as an ASGI application, with a socket-free `handle(request) -> response`.

Per request: limits are checked first (header size → 431, declared body size → 413), the router picks
the executor, then the body is read, holding neither a guest thread nor an admission slot: up to 64 KiB
(or the whole body if it ends first) under a deadline that grows with the bytes received (408 when the
client is too slow). Only then is the request admitted (instances in flight → 503) and the executor run
on a worker thread of the app's pool, while the event loop streams the rest of a larger body in (on
demand: backpressure; such requests take one of a few "streaming" threads, so slow uploads never hold
every guest thread) and the response body out (chunk by chunk, as the guest flushes). One access-log
line is written per request.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..wasi import BufferInput, ChannelInput, Waker
from ._admission import BodyClock, Slots, TooSlow
from ._handoff import Handoff
from ._observe import RequestHooks
from ._router import Router
from ._types import Exchange, Executor, Request, Response

__all__ = ["HttpApp", "ServerLimits"]

log = logging.getLogger("wasmhive.http")
access_log = logging.getLogger("wasmhive.http.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_PREREAD = 64 * 1024  # body bytes read before a guest starts (a body that ends sooner is passed whole)


@dataclass(frozen=True)
class ServerLimits:
    """Limits of the HTTP layer (per-instance limits such as memory and deadline are the executor's).

    The head limits and the per-address connection cap are enforced by `GuardedProtocol` (what `wasmhive
    up` serves with); mounted in another ASGI server, `HttpApp` still checks header size and bodies.
    """

    max_body: int = 10 * 1000 * 1000
    max_header_bytes: int = 16 * 1024  # headers (431 past it); the request line may add 8 KiB
    max_concurrency: int = 64  # instances queued or running (503 past it)
    threads: int = 4  # guest threads (instances running at once); `wasmhive up` uses 2 x CPUs
    client_timeout: float = 30.0  # a response reader stalled this long is dropped; the longest streaming wait
    header_timeout: float = 10.0  # request line and headers within this many seconds (408), absolute
    body_timeout: float = 20.0  # waiting on the client for body bytes: this many seconds...
    min_body_rate: int = 500  # ...plus one more per this many bytes received (408 past it)
    max_connections_per_client: int = 64  # open connections per client address and worker (0: no cap)
    streaming_threads: int = 0  # guest threads for bodies still arriving (0: half of `threads`, >= 1)


class HttpApp:
    """Routes requests to executors. Use as an ASGI app (`.asgi()`), or call `handle` directly."""

    def __init__(self, routes: Router | Sequence[tuple[str, Executor]], *, limits: ServerLimits | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.router = routes if isinstance(routes, Router) else Router(list(routes))
        self.limits = limits or ServerLimits()
        self.pool = _Workers(self.limits.threads)
        self._streams = Slots(self.limits.streaming_threads or max(1, self.limits.threads // 2))
        self._inflight = 0
        self._lock = threading.Lock()
        self._on_close = on_close
        self.observer: Any = None  # cluster: `_metrics.Metrics` counts requests and guest runs through this
        self.tracing: Any = None  # cluster: `_tracing.Tracing` (`up --traces`)

    # -- construction helpers ------------------------------------------------------------------------
    @classmethod
    def from_component(cls, source: Any, *, runtime: Any = None, route: str = "/...", name: str | None = None,
                       server_limits: ServerLimits | None = None, **executor_options: Any) -> HttpApp:
        """One `wasi:http` component (a path, bytes or `Compiled`) served on `route`.

        `executor_options` go to `WasiHttpExecutor` (`limits=Limits(...)`, `env`, `outbound`, ...).
        Without `runtime`, the app owns one configured as `wasmhive up` configures its own (pooled
        instance slots, the default compile cache), so it loads the code `up` compiled. Each pooled
        engine reserves terabytes of address space (a process fits about 15): to serve many
        components in one process, pass one shared `runtime`.
        """
        from pathlib import Path

        from ..runtime import Limits, Runtime
        from ._engine_settings import pool_max_memory
        from ._executor import WasiHttpExecutor

        owned = runtime is None
        if runtime is None:
            limits = executor_options.get("limits")
            memory = limits.memory if isinstance(limits, Limits) and limits.memory is not None else 0
            runtime = Runtime(pooling=True, pooling_max_memory=pool_max_memory(memory), concurrency=False)
        rt = runtime
        if name is None:
            name = Path(source).stem if isinstance(source, (str, Path)) else "component"
        try:
            ex = WasiHttpExecutor(rt, source, name=name, **executor_options)
        except BaseException:
            if owned:
                rt.close()  # its epoch ticker thread would outlive the failed app
            raise
        return cls([(route, ex)], limits=server_limits, on_close=rt.close if owned else None)

    def asgi(self) -> HttpApp:
        """The ASGI application (this object): mount it in Starlette/FastAPI or serve it with uvicorn."""
        return self

    def close(self) -> None:
        self.pool.shutdown()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> HttpApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- shared request logic ------------------------------------------------------------------------
    def _precheck(self, req: Request, head: _Head) -> tuple[Response | None, Any]:
        """An early response (limits, 404, health), or (None, route match)."""
        size, length, _ = head
        if size > self.limits.max_header_bytes:
            return Response(431, [("content-type", b"text/plain")], b"request header fields too large\n"), None
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return Response(400, [], b"bad content-length\n"), None
            if declared > self.limits.max_body:
                return Response(413, [("content-type", b"text/plain")], b"request body too large\n"), None
        path = req.path
        if Router.is_health(path):
            return Response(200, [("content-type", b"text/plain")], b"OK"), None
        match = self.router.match(unquote(path) if "%" in path else path)
        if match is None:
            return Response(404, [("content-type", b"text/plain")], b"not found\n"), None
        return None, match

    def _admit(self) -> bool:
        with self._lock:
            if self._inflight >= self.limits.max_concurrency:
                return False
            self._inflight += 1
            return True

    def _release(self) -> None:
        with self._lock:
            self._inflight -= 1

    def _run(self, executor: Executor, ex: Exchange, done: Callable[[], None]) -> None:
        tracing = self.tracing
        if tracing is not None or self.observer is not None:  # cluster: traces, capability metrics
            ex.trace, ex.calls = tracing, RequestHooks(tracing, self.observer)
        try:
            if tracing is None:
                executor.run(ex)
            else:
                with tracing.request(ex):
                    executor.run(ex)
        except Exception as e:  # executors should not raise; if one does, the client still gets an answer
            log.exception("executor %s failed", getattr(executor, "name", executor))
            ex.failure = str(e)
            ex.respond(500, [], b"")
        finally:
            if self.observer is not None:  # cluster: metrics
                self.observer.ran(ex.component, ex.status, ex.failure)
            done()

    def _access(self, req: Request, status: int, sent: int, t0: float, component: str) -> None:
        if self.observer is not None:  # cluster: metrics
            self.observer.request(req.method, status, time.perf_counter() - t0, component)
        # Prefixed with the component, as guest output is (`[id stdout] ...`): one app, many components.
        access_log.info('[%s] %s "%s %s HTTP/%s" %d %d %.1fms', component or "-", req.client, req.method,
                        req.path_with_query, req.http_version, status, sent, (time.perf_counter() - t0) * 1e3)

    # -- socket-free core ----------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Serve one request to completion (blocking) and return the whole response."""
        t0 = time.perf_counter()
        early, match = self._precheck(req, _scan(req.raw_headers))
        if early is None and len(req.body) > self.limits.max_body:
            early = Response(413, [("content-type", b"text/plain")], b"request body too large\n")
        if early is None and not self._admit():
            early = Response(503, [("content-type", b"text/plain")], b"too many requests in flight\n")
        if early is not None:
            self._access(req, early.status, len(early.body), t0, "")
            return early
        executor = match.target
        ex = Exchange(req, BufferInput(req.body), route=match.route.raw, component=getattr(executor, "name", ""),
                      match=match)
        event = threading.Event()
        ex.notify = event.set
        finished = threading.Event()

        def done() -> None:
            finished.set()
            event.set()

        try:
            self.pool.submit(self._run, executor, ex, done)
            chunks: list[bytes] = []
            while True:
                event.wait()
                event.clear()
                if ex.channel is not None:
                    got, state = ex.channel.take()
                    chunks += got
                    if state != "open":
                        break
                elif finished.is_set():
                    break
            finished.wait()
        finally:
            self._release()
        assert ex.status is not None
        resp = Response(ex.status, list(ex.headers), b"".join(chunks))
        self._access(req, resp.status, len(resp.body), t0, ex.component)
        return resp

    # -- ASGI ----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        t0 = time.perf_counter()
        req = _request_from_scope(scope)
        head = _scan(req.raw_headers)
        early, match = self._precheck(req, head)
        streaming, prefix, complete, clock = False, b"", True, BodyClock(self.limits.body_timeout, self.limits.min_body_rate)
        if early is None:
            # The body comes first, with no guest thread and no admission slot held: a slow client
            # costs a connection and a buffer, nothing other clients wait for.
            try:
                prefix, complete = await self._prefetch(receive, req, head, clock)
            except _ClientGone:
                return
            except TooSlow:
                early = Response(408, [("content-type", b"text/plain"), ("connection", b"close")],
                                 b"request body not received in time\n")
            except _TooLarge:
                early = Response(413, [("content-type", b"text/plain"), ("connection", b"close")],
                                 b"request body too large\n")
        if early is None and not complete:
            # Still arriving: the guest will block on it, so it may use only a streaming thread.
            streaming = await self._streams.take(self.limits.client_timeout)
            if not streaming:
                early = Response(503, [("content-type", b"text/plain")], b"too many uploads in progress\n")
        if early is None and not self._admit():
            early = Response(503, [("content-type", b"text/plain")], b"too many requests in flight\n")
        if early is not None:
            if streaming:
                self._streams.give()
            await _send_whole(send, early)
            self._access(req, early.status, len(early.body), t0, "")
            return
        released = False

        def release() -> None:
            # The cap counts running instances: a slow client still reading a response holds none.
            nonlocal released
            if not released:
                released = True
                self._release()
                if streaming:
                    self._streams.give()

        try:
            await self._serve(scope, receive, send, req, match, t0, release, prefix, complete, clock)
        finally:
            release()

    async def _prefetch(self, receive: Receive, req: Request, head: _Head, clock: BodyClock) -> tuple[bytes, bool]:
        """The body's first `_PREREAD` bytes (or all of it, if it ends sooner), and whether it ended."""
        if req.method in ("GET", "HEAD", "DELETE", "OPTIONS") and head[1] is None and not head[2]:
            return b"", True
        parts: list[bytes] = []
        total = 0
        while True:
            msg = await clock.receive(receive)
            if msg["type"] == "http.disconnect":
                raise _ClientGone
            chunk = msg.get("body", b"")
            total += len(chunk)
            if total > self.limits.max_body:
                raise _TooLarge
            parts.append(chunk)
            if not msg.get("more_body", False):
                return b"".join(parts), True
            if total >= _PREREAD:
                return b"".join(parts), False

    async def _serve(self, scope: Scope, receive: Receive, send: Send, req: Request, match: Any, t0: float,
                     release: Callable[[], None], prefix: bytes, complete: bool, clock: BodyClock) -> None:
        loop = asyncio.get_running_loop()
        executor = match.target
        waker = Waker()
        handoff = Handoff(loop, release)
        too_large = False

        # Request body: whole already, or its first part here and the rest on the guest's demand.
        body: Any
        too_slow = False
        if complete:
            req.body = prefix
            body = BufferInput(prefix)
        else:
            state = {"received": len(prefix), "pumping": False}
            tasks: set[asyncio.Task[None]] = set()

            async def pump() -> None:
                nonlocal too_large, too_slow
                try:
                    msg = await clock.receive(receive)
                except TooSlow:
                    too_slow = True
                    channel.fail("client body timeout")
                    return
                finally:
                    state["pumping"] = False
                if msg["type"] == "http.disconnect":
                    channel.fail("client disconnected")
                    return
                chunk = msg.get("body", b"")
                state["received"] += len(chunk)
                if state["received"] > self.limits.max_body:
                    too_large = True
                    channel.fail("request body too large")
                    return
                channel.feed(chunk)
                if not msg.get("more_body", False):
                    channel.end()

            def demand() -> None:
                def start() -> None:
                    if not state["pumping"]:
                        state["pumping"] = True
                        task = loop.create_task(pump())
                        tasks.add(task)  # keep a reference until it is done
                        task.add_done_callback(tasks.discard)
                loop.call_soon_threadsafe(start)

            channel = ChannelInput(waker, demand)
            channel.feed(prefix)
            body = channel
        ex = Exchange(req, body, waker=waker, route=match.route.raw, component=getattr(executor, "name", ""),
                      match=match)
        ex.notify = handoff.notify
        self.pool.submit(self._run, executor, ex, handoff.finish)
        while not ex.responded:
            await handoff.changed()
        status, headers, out = ex.status, ex.headers, ex.channel
        assert status is not None and out is not None
        if too_large and status >= 500:
            status, headers = 413, []
        elif too_slow and status >= 500:
            status, headers = 408, [("connection", b"close")]
        sent = 0
        try:
            chunks, state_ = out.take()
            while not chunks and state_ == "open":
                # Hold the head until the first body bytes (or the end): a body that is complete by
                # then goes out in one message with a content-length.
                await handoff.changed()
                chunks, state_ = out.take()
            if state_ == "open":
                # Most guests flush once then finish right away: a moment's wait lets such a body go
                # out whole (content-length, no chunked encoding) at no cost to real streams.
                timer = loop.call_later(0.002, handoff.wake)
                await handoff.changed()
                timer.cancel()
                more, state_ = out.take()
                chunks += more
            raw_headers = [(k.encode("latin-1") if isinstance(k, str) else k, v) for k, v in headers]
            if state_ == "finished":
                # The whole body is here: one message, with a content-length.
                data = b"".join(chunks)
                if status == 204:  # RFC 9110 8.6: a 204 carries no content-length (nor a body)
                    raw_headers = [(k, v) for k, v in raw_headers if k.lower() != b"content-length"]
                elif (not any(k == b"content-length" for k, _ in raw_headers) and req.method != "HEAD"
                      and status != 304):
                    raw_headers.append((b"content-length", str(len(data)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": raw_headers})
                await send({"type": "http.response.body", "body": data})
                sent = len(data)
            else:
                await send({"type": "http.response.start", "status": status, "headers": raw_headers})
                while True:
                    for c in chunks:
                        # A client that stops reading is dropped after `client_timeout`. (In this task, not
                        # `wait_for`'s: the head waits for the first chunk's write, `_protocol`, in this turn.)
                        async with asyncio.timeout(self.limits.client_timeout):
                            await send({"type": "http.response.body", "body": c, "more_body": True})
                        sent += len(c)
                    if state_ == "finished":
                        await send({"type": "http.response.body", "body": b""})
                        break
                    if state_ != "open":
                        log.warning("component `%s`: response body incomplete (%s); closing the connection",
                                    ex.component, state_)
                        break
                    await handoff.changed()
                    chunks, state_ = out.take()
        except (OSError, TimeoutError):
            out.cancel()  # the client went away (or stopped reading): the guest's next write fails
        finally:
            self._access(req, status, sent, t0, ex.component)
        await handoff.finished()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Workers:
    """Guest threads fed from one C-implemented queue (lighter per request than a ThreadPoolExecutor
    plus `run_in_executor`'s future chaining)."""

    def __init__(self, n: int) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._loop, name=f"wasmhive-guest-{i}", daemon=True)
                         for i in range(n)]
        for t in self._threads:
            t.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args = job
            fn(*args)

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self._jobs.put((fn, args))

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


class _ClientGone(Exception):
    pass


class _TooLarge(Exception):
    pass


_Head = tuple[int, bytes | None, bool]


def _scan(headers: list[tuple[bytes, bytes]]) -> _Head:
    """One pass over the header fields (lower-case names): their size as `max_header_bytes` counts it, the
    first content-length value, and whether a transfer-encoding is given."""
    size, length, chunked = 0, None, False
    for k, v in headers:
        size += len(k) + len(v) + 4
        if k == b"content-length":
            if length is None:
                length = v
        elif k == b"transfer-encoding":
            chunked = True
    return size, length, chunked


def _request_from_scope(scope: Scope) -> Request:
    # Header fields stay bytes, as the ASGI server gives them (lower-case names): the guest gets them as
    # bytes; only a reader that wants text (WAGI, logs) decodes, through `Request.headers`.
    headers = scope.get("headers", [])
    if not isinstance(headers, list):  # ASGI allows any iterable; uvicorn gives a list
        headers = list(headers)
    server = scope.get("server") or ("127.0.0.1", 3000)
    client = scope.get("client") or ("127.0.0.1", 0)
    host = next((v for k, v in headers if k == b"host"), None)
    authority = host.decode("latin-1") if host else f"{server[0]}:{server[1]}"
    root = scope.get("root_path", "")
    if root:
        # Mounted inside another ASGI app: route on the part below the mount point.
        path = scope["path"]
        if path.startswith(root):
            path = path[len(root):]
    else:
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    path = path.split("?", 1)[0]
    return Request(method=scope["method"], path=path or "/", query=scope.get("query_string", b"").decode("latin-1"),
                   raw_headers=headers, scheme=scope.get("scheme", "http"), authority=authority,
                   client=f"{client[0]}:{client[1]}", http_version=scope.get("http_version", "1.1"))


async def _send_whole(send: Send, resp: Response) -> None:
    headers = [(k.encode("latin-1"), v) for k, v in resp.headers]
    headers.append((b"content-length", str(len(resp.body)).encode()))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": resp.body})
