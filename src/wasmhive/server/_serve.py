"""Serving an `HttpApp` with uvicorn, in one process or several (`workers`).

The order is what a user watching the terminal needs: the listening socket is bound first (a port in
use fails at once, before any compile), then the app is built (one progress line per component; Ctrl-C
stops it), then the banner lists the routes, then uvicorn serves on that socket. Several workers are
separate processes sharing the socket (uvicorn's supervisor); the parent builds the app once first (so
errors are reported once and compiled code is in the on-disk cache), then each worker builds its own
from the same `UpConfig` in milliseconds. Nothing on the request path keeps state a second worker needs.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..errors import ConfigError
from ..http._engine_settings import epoch_tick, pool_max_memory

__all__ = [
    "ServeEvents",
    "UpConfig",
    "app_factory",
    "bind",
    "build_app",
    "default_threads",
    "epoch_tick",
    "parse_listen",
    "pool_max_memory",
    "routes_of",
    "serve",
]

_ENV = "WASMHIVE_UP_CONFIG"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY = 128 * 1024 * 1024
CONTRACTS_PREFIX = "/contracts"

Progress = Callable[[str, "float | None", str], None]


@dataclass
class UpConfig:
    """What `wasmhive up` serves: a component (on `route`) or an app manifest, and how.

    `timeout`, `memory`, `env` and `allowed_outbound_hosts` are, for an app, defaults for every
    component: the manifest's own values win where it sets them (outbound hosts are added to its list).
    `None` means "not given" (30 s, 128 MiB).
    """

    path: str
    listen: str = "127.0.0.1:3000"
    workers: int = 1
    threads: int = field(default_factory=lambda: default_threads())
    route: str | None = None  # a single component's route (default `/...`); refused for an app
    timeout: float | None = None
    memory: int | None = None
    max_body: int = 10 * 1000 * 1000
    max_concurrency: int = 64
    # Slow and greedy HTTP clients (see `ServerLimits`): head and body deadlines, connections per address.
    header_timeout: float = 10.0
    body_timeout: float = 20.0
    min_body_rate: int = 500
    max_connections_per_client: int = 64
    allowed_outbound_hosts: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # Pooled instance slots, reset in place between requests: measured 1.8x the requests/s of on-demand
    # allocation with one worker (no copy-on-write faults and their TLB shootdowns across guest threads).
    pooling: bool = True
    cache: bool = True
    # App manifests only (the app platform): --variable, --key-value seeds, --runtime-config-file.
    variables: dict[str, str] = field(default_factory=dict)
    key_value: dict[str, str] = field(default_factory=dict)
    runtime_config: str | None = None
    sqlite: list[str] = field(default_factory=list)  # --sqlite: statements run once on the `default` database
    contracts: bool = False  # the contract VM's JSON API under /contracts (`--contracts`)
    quiet: bool = False  # no guest output or access log on the terminal (`-q`)
    log_dir: str | None = None  # per-component `<id>_stdout.txt` / `<id>_stderr.txt` (`--log-dir`)

    # Cluster operation (http/_drain.py): on SIGTERM report not-ready for drain_delay s, then stop
    # accepting and give in-flight requests up to drain_timeout s.
    drain_delay: float = 0.0
    drain_timeout: float = 30.0
    metrics: bool = False  # GET /metrics (http/_metrics.py)
    traces: bool = False  # OpenTelemetry spans over OTLP/HTTP (http/_tracing.py)
    workers_max: int = 0  # > workers: autoscale between them (http/_autoscale.py)
    log_format: str = "text"  # "json": one JSON object per log line, with request ids (http/_jsonlog.py)
    idle_unload: float = 0.0  # > 0: unload components idle this long, re-prepare on demand (http/_idle.py)


class ServeEvents(Protocol):
    """What `serve` tells its caller (the CLI prints it)."""

    def component(self, name: str, seconds: float | None, note: str) -> None:
        """A component is being prepared (`seconds` None) or is ready (compile/cache time)."""

    def serving(self, url: str, routes: list[tuple[str, str]], workers: int) -> None:
        """The socket is bound and the app is ready: `routes` are (component, full URL) pairs."""


def default_threads() -> int:
    """Guest threads per worker: twice the cores (measured best on 2 cores: 4 beat 2 and 8)."""
    return min(32, 2 * (os.cpu_count() or 2))


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets) -> (host, port); a bad value is a `ConfigError`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen wants HOST:PORT, got {text!r}")
    if not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {text}: port {int(port)} is out of range (0-65535)")
    return host.strip("[]") or "127.0.0.1", int(port)


def bind(listen: str) -> socket.socket:
    """A bound (not yet listening) TCP socket for `listen`; address errors are one clear `ConfigError`."""
    host, port = parse_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise ConfigError(f"--listen {listen}: cannot resolve {host!r} ({e.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        import errno

        reasons = {errno.EADDRINUSE: "address already in use (another server is listening there)",
                   errno.EADDRNOTAVAIL: "address not available on this machine",
                   errno.EACCES: "permission denied (ports below 1024 need privileges)"}
        why = reasons.get(e.errno or 0, e.strerror or str(e))
        raise ConfigError(f"--listen {listen}: {why}") from None
    sock.set_inheritable(True)  # worker processes inherit it
    return sock


def build_app(cfg: UpConfig, progress: Progress | None = None) -> Any:
    """The `HttpApp` for `cfg` (a `.wasm`/`.wat` component, or an app directory / manifest).

    `progress(name, None, note)` is called before each component is compiled (or loaded from the
    cache) and `progress(name, seconds, note)` when it is ready.
    """
    from pathlib import Path

    from ..http._app import ServerLimits

    limits = ServerLimits(max_body=cfg.max_body, max_concurrency=cfg.max_concurrency, threads=cfg.threads,
                          header_timeout=cfg.header_timeout, body_timeout=cfg.body_timeout,
                          min_body_rate=cfg.min_body_rate, max_connections_per_client=cfg.max_connections_per_client)
    p = Path(cfg.path)
    if p.is_dir() or p.suffix == ".toml":
        if cfg.route is not None:
            raise ConfigError(f"--route is for a single component; {cfg.path} is an app (its manifest has the "
                              "routes)")
        from ._manifest_app import build as build_manifest_app

        return build_manifest_app(cfg, limits, progress)
    for option, given in (("--variable", cfg.variables), ("--key-value", cfg.key_value),
                          ("--runtime-config-file", cfg.runtime_config), ("--sqlite", cfg.sqlite)):
        if given:
            raise ConfigError(f"{option} is for an app (a directory or manifest); {cfg.path} is a single component")
    return _component_app(cfg, p, limits, progress)


def _component_app(cfg: UpConfig, p: Any, limits: Any, progress: Progress | None) -> Any:
    import time

    from ..capabilities.outbound_http import OutboundPolicy
    from ..http._app import HttpApp
    from ..http._executor import WasiHttpExecutor
    from ..runtime import Limits, Runtime

    memory = DEFAULT_MEMORY if cfg.memory is None else cfg.memory
    timeout = DEFAULT_TIMEOUT if cfg.timeout is None else cfg.timeout
    policy = OutboundPolicy.parse(cfg.allowed_outbound_hosts)
    rt = Runtime(pooling=cfg.pooling, pooling_max_memory=pool_max_memory(memory),
                 cache=None if cfg.cache else False, tick=epoch_tick(), concurrency=False)
    try:
        if progress is not None:
            progress(p.stem, None, _size(p))
        t0 = time.perf_counter()
        ex = WasiHttpExecutor(rt, str(p), name=p.stem, limits=Limits(memory=memory, timeout=timeout),
                              env=dict(cfg.env), outbound=policy, body_limit=cfg.max_body)
        if progress is not None:
            progress(p.stem, time.perf_counter() - t0, "from the compile cache" if ex.compiled.from_cache else
                     "compiled")
    except BaseException:
        rt.close()
        raise
    return HttpApp([(cfg.route or "/...", ex)], limits=limits, on_close=rt.close)


def _size(path: Any) -> str:
    try:
        n = path.stat().st_size
    except OSError:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _with_contracts(app: Any, cfg: UpConfig) -> Any:
    """The contract VM's DApp JSON API under /contracts beside the app, when asked for (state:
    $WASMHIVE_STATE or .wasmhive, sealed at rest if $WASMHIVE_STATE_SEALED, as for `wasmhive contract`).
    The app's own routes under /contracts still reach the app."""
    if not cfg.contracts:
        return app
    from ..contracts import mount_contracts

    sealed = os.environ.get("WASMHIVE_STATE_SEALED", "").lower() in ("1", "true", "yes", "on")
    return mount_contracts(app, os.environ.get("WASMHIVE_STATE", ".wasmhive"), CONTRACTS_PREFIX,
                           app_keeps=_keeps(app.router, CONTRACTS_PREFIX), sealed=sealed)


def _keeps(router: Any, prefix: str) -> Callable[[str], bool]:
    """Spin's precedence with the contracts API as the route `<prefix>/...`: an app route at least as
    specific (`/contracts/...`, `/contracts/x`, an exact `/contracts`) keeps its requests; a less specific
    one (`/...`, `/:name/...`) gives way."""
    from urllib.parse import unquote

    from ..http._router import Route

    mount = Route.parse(prefix + "/...", None).rank[:3]

    def keeps(path: str) -> bool:
        match = router.match(unquote(path))
        return match is not None and match.route.rank[:3] >= mount

    return keeps


def routes_of(app: Any, base_url: str) -> list[tuple[str, str]]:
    """(component, URL) for every public route of `app` (as the banner lists them)."""
    inner = getattr(app, "inner", app)
    out = []
    for r in inner.router.routes:
        name = getattr(r.target, "name", "") or "-"
        if r.wildcard:
            out.append((name, f"{base_url}{r.full[:-4]}/... (wildcard)"))
        else:
            out.append((name, base_url + r.full))
    contracts = getattr(app, "contracts", None)
    if contracts is not None:
        out.append(("contracts", f"{base_url}{contracts.prefix}/... (contract API)"))
    cron = getattr(inner, "cron", None)  # server/_cron_trigger.py
    out.extend((component, f"cron {expr!r} (UTC)") for component, expr in (cron.schedules if cron else ()))
    return out


def _tune() -> None:
    """Process settings for serving: host calls from guest threads must get the GIL quickly."""
    import sys

    # A guest thread making a host call waits for the GIL. Shorter switch intervals (0.5 ms, 0.1 ms) were
    # measured: they cost CPU and gained no throughput, so Python's 5 ms stays (overridable for tuning).
    sys.setswitchinterval(float(os.environ.get("WASMHIVE_SWITCH_INTERVAL", "0.005")))


def app_factory() -> Any:
    """uvicorn's factory in each worker process: the config travels in an environment variable."""
    from ..http._logs import configure_logs
    from ._affinity import pin_worker

    cfg = UpConfig(**json.loads(os.environ[_ENV]))
    configure_logs(quiet=cfg.quiet, log_dir=cfg.log_dir, json=cfg.log_format == "json")
    _tune()
    pin_worker()  # one CPU per worker (`_affinity.py`); before the app starts its guest threads
    from ..http import _ops  # cluster: health, drain, metrics (imports uvicorn: only when serving)

    return _ops.wrap(_with_contracts(build_app(cfg), cfg), cfg)


def _build_interruptibly(cfg: UpConfig, progress: Progress | None) -> Any:
    """`build_app` on a helper thread, so that Ctrl-C reaches the main thread while wasmtime compiles
    (a compile runs in native code for seconds; the signal handler would wait for it to return)."""
    result: list[Any] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            result.append(build_app(cfg, progress))
        except BaseException as e:
            error.append(e)

    t = threading.Thread(target=work, name="wasmhive-build", daemon=True)
    t.start()
    while t.is_alive():
        t.join(0.1)  # KeyboardInterrupt is raised here within a tenth of a second
    if error:
        raise error[0]
    return result[0]


def _uvicorn_options(cfg: UpConfig, log_level: str) -> dict[str, Any]:
    from ..http._protocol import GuardedProtocol

    # GuardedProtocol bounds each connection's head (time, size) and connections per address; workers
    # import it by name and find the limits in the app they build.
    return dict(log_level=log_level, access_log=False, lifespan="on", timeout_keep_alive=5,
                server_header=False, http=GuardedProtocol)


def serve(cfg: UpConfig, *, log_level: str = "warning", ready: Any = None, events: ServeEvents | None = None) -> None:
    """Bind, build, announce, then serve until interrupted (uvicorn; httptools and uvloop when installed).

    `ready(app)` is called with the built app (single worker) before serving starts.
    """
    from ..http import _ops  # cluster: health, drain, metrics, autoscaling
    from ..http._logs import configure_logs

    sock = bind(cfg.listen)
    try:
        configure_logs(quiet=cfg.quiet, log_dir=cfg.log_dir, json=cfg.log_format == "json")
        _tune()
        app = _with_contracts(_build_interruptibly(cfg, events.component if events else None), cfg)
        host, port = sock.getsockname()[:2]
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        sock.listen(2048)  # from here on, connections wait in the backlog instead of being refused
        if events is not None:
            events.serving(url, routes_of(app, url), cfg.workers)
        options = _uvicorn_options(cfg, log_level)
        if cfg.workers > 1 or cfg.workers_max > cfg.workers:  # autoscaling needs the supervisor too
            cron = getattr(app, "cron", None)  # the cron trigger runs here, in the supervisor, not per worker
            if cron is None:
                app.close()  # it proved the app builds and filled the compile cache; workers build their own
                del app
            else:
                os.environ["WASMHIVE_CRON_ELSEWHERE"] = "1"
            # --sqlite statements ran once, in this process's build: workers must not run them again.
            os.environ[_ENV] = json.dumps({**asdict(cfg), "sqlite": []})
            from ._affinity import worker_slots

            try:
                with worker_slots():  # each worker pins itself to its own CPU
                    _ops.run("wasmhive.server._serve:app_factory", cfg, sock=sock, **options)
            finally:
                if cron is not None:
                    app.close()
        else:
            app = _ops.wrap(app, cfg)  # readiness/liveness, drain, metrics, request ids
            if ready is not None:
                ready(app)
            _ops.run(app, cfg, sock=sock, **options)
    finally:
        sock.close()
