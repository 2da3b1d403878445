"""`App`: a whole application (manifest + capabilities + one executor per route), ready to serve.

    >>> app = App.load("examples/app")              # validate, open stores, compile components
    >>> app.http_app().handle(request)                # route + Spin headers, socket-free
    >>> app.asgi()                                    # the ASGI application (the HTTP trigger's server)

Start-up does everything that can fail: manifest errors, missing required variables, unknown stores,
bad outbound hosts and unloadable components all fail here, before the first request.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..appconfig import AppConfig, ComponentConfig, RuntimeOptions, StaticResponse
from ..errors import ConfigError
from ..runtime import Limits, Runtime, parse_duration, parse_size
from ._manifest import load_manifest
from ._runtime_config import load_runtime_config, runtime_config_warnings

if TYPE_CHECKING:
    from ..capabilities import AppCapabilities
    from ..http._router import Router
    from ..http._types import Exchange

__all__ = ["App", "ComponentDefaults", "SpinHeaders", "StaticExecutor", "load_runtime_config"]

log = logging.getLogger("wasmhive.app")
DEFAULT_TIMEOUT = 30.0


class StaticExecutor:
    """Answers a route with a fixed response from the manifest (`static_response`); runs no guest."""

    def __init__(self, name: str, response: StaticResponse) -> None:
        self.name = name
        self.status = response.status
        self.headers = [(k.lower(), v.encode("latin-1")) for k, v in response.headers.items()]
        self.body = response.body

    def run(self, ex: Exchange) -> None:
        ex.respond(self.status, list(self.headers), self.body)


class SpinHeaders:
    """Wraps a route's executor: adds Spin's `spin-*` request headers (and drops any the client sent)."""

    def __init__(self, executor: Any, route: Any) -> None:
        self.executor = executor
        self.route = route
        self.name = getattr(executor, "name", "")

    def run(self, ex: Exchange) -> None:
        from urllib.parse import unquote

        from ..http._router import RouteMatch
        from ..http._types import field_bytes

        req = ex.request
        routed = ex.match
        if isinstance(routed, RouteMatch):  # the trigger routed it: same route, now as the app names it
            match = RouteMatch(self.route, routed.path, routed.params)
        else:  # a chained request (`<id>.spin.internal`): the whole-component route `/...`
            path = unquote(req.path)
            match = RouteMatch(self.route, path, self.route.match([s for s in path.split("/") if s]) or {})
        ex.match = match
        if not getattr(self.executor, "spin_headers", True):  # e.g. WAGI: takes the match itself
            self.executor.run(ex)
            return
        full_url = f"{req.scheme}://{req.authority}{req.path_with_query}"
        # Appended as bytes to the raw fields (a client's own `spin-*` fields are dropped: they would
        # forge the host's). The URL is the request's own latin-1 text back to its bytes; the other
        # values are UTF-8 (paths percent-decoded as UTF-8, routes from the manifest).
        spin = [(k.encode(), field_bytes(v) if k == "spin-full-url" else v.encode())
                for k, v in match.spin_headers(full_url=full_url, client_addr=req.client)]
        ex.request = req.replace(raw_headers=[(k, v) for k, v in req.raw_headers if not k.startswith(b"spin-")] + spin)
        self.executor.run(ex)


@dataclass(frozen=True)
class ComponentDefaults:
    """What the operator gives every component at start-up (`wasmhive up APP --timeout --memory --env
    --allow-outbound`). The manifest wins where it sets a value: `[component.<id>.limits]`, then
    `[application.limits]`, then these; a component's `environment` beats `env` for the same name.
    `allowed_outbound_hosts` are added to each component's own list (a grant, never a restriction)."""

    timeout: float | None = None
    memory: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    allowed_outbound_hosts: Sequence[str] = ()
    body_limit: int | None = None  # the server's request body limit (`--max-body`), also for outbound bodies

    def apply(self, config: AppConfig) -> None:
        """Merge `env` and `allowed_outbound_hosts` into every component of `config` (limits are merged
        when executors are built)."""
        for comp in config.components.values():
            comp.environment = {**self.env, **comp.environment}
            comp.allowed_outbound_hosts = comp.allowed_outbound_hosts + [
                h for h in self.allowed_outbound_hosts if h not in comp.allowed_outbound_hosts]


def _limits(app: AppConfig, comp: ComponentConfig | None, defaults: ComponentDefaults | None = None) -> Limits:
    base: dict[str, Any] = {"memory": "128MiB", "timeout": DEFAULT_TIMEOUT}
    if defaults is not None and defaults.memory is not None:
        base["memory"] = defaults.memory
    if defaults is not None and defaults.timeout is not None:
        base["timeout"] = defaults.timeout
    spec: dict[str, Any] = {**base, **app.limits, **(comp.limits if comp else {})}
    try:
        return Limits(memory=parse_size(spec["memory"]), timeout=parse_duration(spec["timeout"]))
    except ConfigError as e:
        raise ConfigError(f"{app.manifest_path}: {'component `' + comp.id + '`' if comp else 'app'} limits: {e}") from None


class App:
    """A loaded application. Owns its `Runtime` (unless given one) and its capabilities' backends."""

    def __init__(self, config: AppConfig, *, runtime: Runtime | None = None, defaults: ComponentDefaults | None = None,
                 progress: Callable[[str, float | None, str], None] | None = None) -> None:
        """`defaults`: operator values for every component (see `ComponentDefaults`). `progress(id, None,
        note)` is called before each component is compiled or loaded, `progress(id, seconds, note)` after."""
        from ..capabilities import AppCapabilities
        from ..http._router import Route, Router

        self.config = config
        self.defaults = defaults
        self._progress = progress
        self._prepared: set[str] = set()
        if defaults is not None:
            defaults.apply(config)
        from ._remote import fetch_remote_sources  # `source = { url, digest }`: download/verify first

        fetch_remote_sources(config, progress)
        self._own_runtime = runtime is None
        self.runtime = runtime or Runtime(concurrency=False)  # the HTTP trigger's engine (see EngineSettings)
        try:
            self.capabilities: AppCapabilities = AppCapabilities(config)
        except BaseException:
            if self._own_runtime:
                self.runtime.close()
            raise
        try:
            from ..http._self import SelfRequests

            self.executors: dict[int, Any] = {}
            routes: list[tuple[str, tuple[int, str]]] = []
            for i, trig in enumerate(config.triggers):
                if trig.route is None:
                    continue  # private: reachable only by service chaining (`http://<id>.spin.internal`)
                routes.append((trig.route, (i, trig.component or f"static:{trig.route}")))
            self.router: Router = Router(routes, base=config.base)
            for w in self.router.warnings:
                config.warnings.append(f"{config.manifest_path}: {w}")
            # Requests a component makes to its own app (`http://self/...`, `<id>.spin.internal`).
            chained: dict[str, Any] = {}
            self.self_requests = SelfRequests(self.router, lambda r: SpinHeaders(self.executors[r.target[0]], r),
                                              chained)
            for route in self.router.routes:
                i, _ = route.target
                self.executors[i] = self._executor(i, route)
            for i, trig in enumerate(config.triggers):
                if trig.component is None or trig.component in chained:
                    continue
                whole = Route.parse("/...", (i, trig.component))
                public = next((r for r in self.router.routes if r.target[0] == i), None)
                ex = self.executors[i] if public is not None else self._executor(i, whole)
                chained[trig.component] = SpinHeaders(ex, whole)
            self.self_requests.chained = chained
        except BaseException:
            self.close()
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, variables: Mapping[str, str] | None = None,
             runtime_config: str | os.PathLike[str] | None = None, key_value: Mapping[str, str] | None = None,
             environ: Mapping[str, str] | None = None, dotenv: str | os.PathLike[str] | None = None,
             runtime: Runtime | None = None, defaults: ComponentDefaults | None = None,
             progress: Callable[[str, float | None, str], None] | None = None,
             sqlite: Sequence[str] | None = None) -> App:
        """Load the app at `path` (a directory or a manifest) with start-up options (the CLI's flags)."""
        config = load_manifest(Path(path))
        rc_path = Path(runtime_config) if runtime_config is not None else None
        if rc_path is None and (config.dir / "runtime-config.toml").is_file():
            rc_path = config.dir / "runtime-config.toml"
        rc = load_runtime_config(rc_path) if rc_path is not None else {}
        if rc_path is not None:
            config.warnings.extend(runtime_config_warnings(rc, rc_path))
        config.runtime = RuntimeOptions(
            variables=dict(variables or {}),
            environ=dict(environ) if environ is not None else None,
            dotenv=Path(dotenv) if dotenv is not None else None,
            runtime_config=rc,
            runtime_config_path=rc_path,
            runtime_config_trusted=runtime_config is not None,
            key_value_seed=list((key_value or {}).items()),
            sqlite_statements=list(sqlite or ()),
        )
        return cls(config, runtime=runtime, defaults=defaults, progress=progress)

    # -- building executors ----------------------------------------------------------------------------
    def _executor(self, index: int, route: Any) -> Any:
        trig = self.config.triggers[index]
        if trig.static_response is not None:
            return StaticExecutor(f"static:{trig.route}", trig.static_response)
        assert trig.component is not None
        comp = self.config.components[trig.component]
        if not comp.source.is_file():
            hint = " (run `wasmhive build` first)" if comp.build is not None else ""
            raise ConfigError(f"{self.config.manifest_path}: component `{comp.id}`: source {comp.source} does not "
                              f"exist{hint}")
        first = comp.id not in self._prepared
        self._prepared.add(comp.id)
        if first and self._progress is not None:
            size = comp.source.stat().st_size
            self._progress(comp.id, None, f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB")
        t0 = time.perf_counter()
        ex = self._component_executor(trig, comp, route)
        if first and self._progress is not None:
            inner = getattr(ex, "executor", ex)  # a WAGI route executor wraps the module's executor
            cached = getattr(getattr(inner, "compiled", None), "from_cache", False)
            self._progress(comp.id, time.perf_counter() - t0, "from the compile cache" if cached else "compiled")
        from ..http._attest import attesting  # evidence headers on request (wasmhive.tee)

        return attesting(ex, self.capabilities.state("sealing").guests.get(comp.id))

    def _component_executor(self, trig: Any, comp: ComponentConfig, route: Any) -> Any:
        limits = _limits(self.config, comp, self.defaults)
        if trig.executor.type == "wagi":
            from ..http._wagi import WagiExecutor, WagiRouteExecutor

            wagi = WagiExecutor(self.runtime, comp.source, component_id=comp.id, argv=trig.executor.argv,
                                entrypoint=trig.executor.entrypoint, limits=limits,
                                files_root=self.capabilities.state("files").get(comp.id),
                                environment=comp.environment,
                                tee=self.capabilities.state("sealing").guests.get(comp.id))
            return WagiRouteExecutor(wagi, route, **self._body_limit())
        compiled = self.runtime.load(comp.source)  # kept in memory: `_http_executor` gets it again for free
        if compiled.kind == "module":  # not a component: a Spin 0.x module (`handle-http-request`)
            from ..http._spin_core import SpinCoreExecutor
            from ..http._wagi import WagiRouteExecutor

            core = SpinCoreExecutor(self.runtime, compiled, component_id=comp.id, limits=limits,
                                    files_root=self.capabilities.state("files").get(comp.id),
                                    environment=comp.environment,
                                    config=self.capabilities.state("variables").component(comp.id),
                                    outbound=self.capabilities.instance(comp.id).states.get("outbound_http"))
            return WagiRouteExecutor(core, route, **self._body_limit())
        return self._http_executor(comp, limits)

    def _http_executor(self, comp: ComponentConfig, limits: Limits) -> Any:
        from ..http._executor import WasiHttpExecutor
        from ..wasi import current

        caps = self.capabilities
        policy = caps.instance(comp.id).states.get("outbound_http")
        compiled = self.runtime.load(comp.source)

        def state_of() -> Any:
            return current().capabilities

        def link_extra(root: Any) -> None:
            caps.link_component(root, state_of, compiled.component, self.runtime.engine, comp.id)

        def prepare_extra(state: Any) -> None:
            state.capabilities = caps.instance(comp.id)

        return WasiHttpExecutor(self.runtime, compiled, name=comp.id, limits=limits, env=dict(comp.environment),
                                outbound=policy, link_extra=link_extra, prepare_extra=prepare_extra,
                                self_requests=self.self_requests, **self._body_limit())

    def _body_limit(self) -> dict[str, int]:
        limit = self.defaults.body_limit if self.defaults is not None else None
        return {} if limit is None else {"body_limit": limit}

    # -- serving ---------------------------------------------------------------------------------------
    def http_app(self, limits: Any = None, *, close_app: bool = True) -> Any:
        """The HTTP trigger's `HttpApp` for this app: every route's executor, with Spin's request headers
        injected before it runs. Closing the HttpApp closes this app (unless `close_app=False`)."""
        from ..http._app import HttpApp
        from ..http._router import Router

        routed = [(r.raw, SpinHeaders(self.executors[r.target[0]], r)) for r in self.router.routes]
        router = Router(routed, base=self.config.base)
        return HttpApp(router, limits=limits, on_close=self.close if close_app else None)

    def asgi(self) -> Any:
        """The ASGI application serving this app (mount it in Starlette/FastAPI, or run it with uvicorn)."""
        return self.http_app().asgi()

    def close(self) -> None:
        """Close backends and, if this app created it, the runtime."""
        self.capabilities.close()
        if self._own_runtime:
            self.runtime.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
