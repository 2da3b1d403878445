"""The Redis trigger: `[[trigger.redis]]` channels of an app, each message run in a fresh instance.

`wasmhive up` subscribes (redis-py pub/sub, one connection per address) to every channel the manifest
names and runs the trigger's component once per message through its `fermyon:spin/inbound-redis` export
(`handle-message(payload)`, spin-sdk's `spin-redis` world), with the component's limits (memory, deadline)
and capabilities, as the HTTP trigger does for a request. A trap, an error result or a deadline is logged
with the channel and the subscription goes on; a lost connection is re-established (with backoff) and the
channels subscribed again. Pub/sub does not queue: messages published while disconnected are not seen.

The subscription lives in the serving process, so an app with Redis triggers runs with one worker.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import wasmtime

from ..errors import ConfigError, DeadlineExceeded, InvalidModule, LinkError, translate

__all__ = ["EXPORT", "RedisMessageHandler", "RedisTriggers", "start_redis_triggers"]

log = logging.getLogger("wasmhive.redis_trigger")
EXPORT = "fermyon:spin/inbound-redis"
IN_FLIGHT = 16  # messages being handled at once per app; the subscriber waits beyond that


def _shown(address: str) -> str:
    """The address without its password, for log lines."""
    u = urlsplit(address)
    host = u.hostname or ""
    netloc = f"{host}:{u.port}" if u.port else host
    return urlunsplit((u.scheme, netloc, u.path, "", ""))


class RedisMessageHandler:
    """One component's `handle-message`: a fresh instance per message (thread-safe)."""

    def __init__(self, app: Any, component_id: str) -> None:
        from ..app._app import _limits
        from ..wasi import build_linker, current

        comp = app.config.components[component_id]
        if not comp.source.is_file():
            raise ConfigError(f"{app.config.manifest_path}: component `{comp.id}`: source {comp.source} does not "
                              "exist" + (" (run `wasmhive build` first)" if comp.build is not None else ""))
        self.app = app
        self.name = comp.id
        self.env = list(comp.environment.items())
        self.limits = _limits(app.config, comp, app.defaults)
        self.compiled = app.runtime.load(comp.source)
        component = self.compiled.component
        engine = app.runtime.engine
        if EXPORT not in component.type.exports(engine):
            raise InvalidModule(f"component `{comp.id}` is used by a [[trigger.redis]] but does not export {EXPORT} "
                                "(build it for spin-sdk's `spin-redis` world)", source=self.compiled.name)
        iface = component.get_export_index(EXPORT)
        index = component.get_export_index("handle-message", iface) if iface is not None else None
        if index is None:
            raise InvalidModule(f"{EXPORT} has no `handle-message` function", source=self.compiled.name)
        self._index = index
        caps = app.capabilities
        self.policy = caps.instance(comp.id).states.get("outbound_http")

        def state_of() -> Any:
            return current().capabilities

        def link_extra(root: Any) -> None:
            caps.link_component(root, state_of, component, engine, comp.id)

        try:
            self.linker = build_linker(engine, component, link_extra)
        except wasmtime.WasmtimeError as e:
            raise LinkError(f"{self.compiled.name}: {str(e).splitlines()[0]}") from None
        self._call: Any = None
        self._call_lock = threading.Lock()

    def handle(self, channel: str, payload: bytes) -> bool:
        """Run one message; True when the guest returned `ok`. Never raises: failures are logged."""
        from ..component._hostcall import ExportCall, take_host_error
        from ..component._values import ResultError
        from ..http._executor import HttpContext, _Lines
        from ..runtime._instance import out_of_memory
        from ..wasi import HOST_RESOURCES, HostState, attach

        out, err = _Lines(self.name, "stdout"), _Lines(self.name, "stderr")
        deadline = time.monotonic() + self.limits.timeout if self.limits.timeout is not None else None
        state = HostState(deadline=deadline, stdout=out, stderr=err, name=self.name)
        state.http = HttpContext(self.policy, None, getattr(self.app, "self_requests", None))
        state.capabilities = self.app.capabilities.instance(self.name)
        where = f"redis trigger: channel {channel!r}: component `{self.name}`"
        store = None
        try:
            store = self.app.runtime.new_store(self.limits, compiled=self.compiled)
            cfg = wasmtime.WasiConfig()
            if self.env:
                cfg.env = self.env
            store.set_wasi(cfg)
            instance = self.linker.instantiate(store, self.compiled.component)
            func = instance.get_func(store, self._index)
            assert func is not None
            with self._call_lock:
                if self._call is None:
                    self._call = ExportCall(func, store, HOST_RESOURCES)
            with attach(store, state):
                self._call(store, func, bytes(payload))
            return True
        except ResultError as e:  # `err(error)`, spin's redis `error` enum
            log.error("%s: the guest returned an error (%s)", where, e.value)
            return False
        except Exception as e:
            host_error = take_host_error()
            error = translate(e, timeout=self.limits.timeout)
            error = out_of_memory(error, self.limits, err.tail) or error  # an abort after a failed allocation
            if isinstance(error, DeadlineExceeded) or state.deadline_hit:
                log.error("%s: guest interrupted: ran past its %gs deadline", where, self.limits.timeout or 0)
            else:
                cause = f"host call failed: {host_error}" if host_error is not None else str(error).splitlines()[0]
                log.error("%s: guest trapped: %s", where, cause)
            return False
        finally:
            out.close()
            err.close()
            state.close()
            del store


class RedisTriggers:
    """Every `[[trigger.redis]]` of one app: a subscriber thread per address, handlers on a small pool."""

    def __init__(self, app: Any) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError("[[trigger.redis]] needs redis-py: pip install 'wasmhive[redis]'") from None
        from ..capabilities.variables import render

        self._redis = redis
        resolved = app.capabilities.state("variables")
        values = resolved.app_values if resolved is not None else {}
        handlers: dict[str, RedisMessageHandler] = {}
        # address -> channel -> handlers (several triggers may share a channel: each gets every message)
        self.routes: dict[str, dict[str, list[RedisMessageHandler]]] = {}
        for trig in app.config.redis_triggers:
            handler = handlers.get(trig.component)
            if handler is None:
                handler = handlers[trig.component] = RedisMessageHandler(app, trig.component)
            # `{{ variable }}` in an address or channel, rendered from the app's variables at start-up
            address = render(trig.address, values, what=f"[[trigger.redis]] channel {trig.channel!r}: address")
            channel = render(trig.channel, values, what=f"[[trigger.redis]] channel {trig.channel!r}")
            self.routes.setdefault(address, {}).setdefault(channel, []).append(handler)
        self._stop = threading.Event()
        self._slots = threading.Semaphore(IN_FLIGHT)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="redis-trigger")
        self._threads: list[threading.Thread] = []
        self.subscribed: dict[str, threading.Event] = {a: threading.Event() for a in self.routes}

    def _client(self, address: str) -> Any:
        try:
            return self._redis.Redis.from_url(address, socket_connect_timeout=5, socket_keepalive=True,
                                              health_check_interval=15)
        except ValueError as e:
            raise ConfigError(f"[[trigger.redis]]: bad Redis address {_shown(address)!r}: {e}") from None

    def start(self) -> None:
        """Check every address answers (a start-up error otherwise), then subscribe in the background."""
        for address in self.routes:
            client = self._client(address)
            try:
                client.ping()
            except (self._redis.RedisError, OSError) as e:
                raise ConfigError(f"[[trigger.redis]]: cannot reach Redis at {_shown(address)}: {e}") from None
            finally:
                client.close()
        for address, channels in self.routes.items():
            t = threading.Thread(target=self._listen, args=(address, channels), daemon=True,
                                 name=f"redis-trigger {_shown(address)}")
            t.start()
            self._threads.append(t)

    def _listen(self, address: str, channels: dict[str, list[RedisMessageHandler]]) -> None:
        backoff, lost = 0.2, False
        while not self._stop.is_set():
            client = self._client(address)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(*channels)
                pubsub.get_message(timeout=0)  # sends the SUBSCRIBE now, so a dead server fails here
                # after a loss at the loss's level, so whoever saw "lost" sees it came back
                log.log(logging.WARNING if lost else logging.INFO, "redis trigger: %s %s on %s",
                        "re-subscribed to" if lost else "subscribed to", ", ".join(channels), _shown(address))
                self.subscribed[address].set()
                backoff = 0.2
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=0.5)
                    if msg is not None and msg.get("type") == "message":
                        channel = msg["channel"].decode("utf-8", "replace")
                        for handler in channels.get(channel, ()):
                            self._dispatch(handler, channel, msg["data"])
            except Exception as e:  # a lost connection (RedisError, OSError) or anything else: never stop
                self.subscribed[address].clear()
                if isinstance(e, (self._redis.RedisError, OSError)):
                    log.warning("redis trigger: lost %s (%s); reconnecting in %.1fs", _shown(address), e, backoff)
                else:
                    log.exception("redis trigger: subscription to %s failed; reconnecting in %.1fs",
                                  _shown(address), backoff)
                lost = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                pubsub.close()
                client.close()

    def _dispatch(self, handler: RedisMessageHandler, channel: str, payload: bytes) -> None:
        while not self._slots.acquire(timeout=0.5):  # back-pressure: Redis buffers while we are busy
            if self._stop.is_set():
                return

        def run() -> None:
            try:
                handler.handle(channel, payload)
            finally:
                self._slots.release()

        self._pool.submit(run)

    def close(self) -> None:
        """Stop subscribing and wait for the messages being handled."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._pool.shutdown(wait=True)


def start_redis_triggers(app: Any, workers: int = 1) -> RedisTriggers | None:
    """The running Redis triggers of `app` (None when it has none); `workers` > 1 is refused, since every
    worker would handle every message."""
    if not app.config.redis_triggers:
        return None
    if workers > 1:
        raise ConfigError("an app with [[trigger.redis]] runs in one process: serve it with --workers 1 "
                          "(each worker would handle every message)")
    triggers = RedisTriggers(app)
    triggers.start()
    return triggers
