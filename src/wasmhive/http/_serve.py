"""Serving an `HttpApp` with uvicorn, in one process or several (`workers`).

Several workers are separate processes sharing the listening socket (uvicorn's supervisor); each builds
its own app from the same `UpConfig` (the compiled component comes from the on-disk compile cache, so a
worker starts in milliseconds). Nothing on the request path keeps state a second worker would need.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["UpConfig", "app_factory", "build_app", "default_threads", "parse_listen", "serve"]

_ENV = "WASMHIVE_UP_CONFIG"


@dataclass
class UpConfig:
    """What `wasmhive up` serves: a component (on `route`) or an app manifest, and how."""

    path: str
    listen: str = "127.0.0.1:3000"
    workers: int = 1
    threads: int = field(default_factory=lambda: default_threads())
    route: str = "/..."
    timeout: float = 30.0
    memory: int = 128 * 1024 * 1024
    max_body: int = 10 * 1000 * 1000
    max_concurrency: int = 64
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
    # Cluster operation (http/_drain.py): on SIGTERM report not-ready for drain_delay s, then stop
    # accepting and give in-flight requests up to drain_timeout s.
    drain_delay: float = 0.0
    drain_timeout: float = 30.0
    metrics: bool = False  # GET /metrics (http/_metrics.py)
    workers_max: int = 0  # > workers: autoscale between them (http/_autoscale.py)
    log_format: str = "text"  # "json": one JSON object per log line, with request ids (http/_jsonlog.py)
    idle_unload: float = 0.0  # > 0: unload components idle this long, re-prepare on demand (http/_idle.py)


def default_threads() -> int:
    """Guest threads per worker: twice the cores (measured best on 2 cores: 4 beat 2 and 8)."""
    return min(32, 2 * (os.cpu_count() or 2))


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen wants HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_app(cfg: UpConfig) -> Any:
    """The `HttpApp` for `cfg` (a `.wasm`/`.wat` component, or an app directory / manifest)."""
    from pathlib import Path

    from ..capabilities.outbound_http import OutboundPolicy
    from ..runtime import Limits, Runtime
    from ._app import HttpApp, ServerLimits
    from ._executor import WasiHttpExecutor

    limits = ServerLimits(max_body=cfg.max_body, max_concurrency=cfg.max_concurrency, threads=cfg.threads)
    p = Path(cfg.path)
    manifest = p.is_dir() or p.suffix == ".toml"
    if manifest:
        try:
            from . import _manifest_app  # the app platform's manifest loader, when present
        except ImportError:
            raise ConfigError(f"{cfg.path}: serving app manifests is not available in this build") from None
        return _manifest_app.build(cfg, limits)
    rt = Runtime(pooling=cfg.pooling, pooling_max_memory=pool_max_memory(cfg.memory),
                 cache=None if cfg.cache else False, tick=_tick())
    ex = WasiHttpExecutor(rt, str(p), name=p.stem, limits=Limits(memory=cfg.memory, timeout=cfg.timeout),
                          env=dict(cfg.env), outbound=OutboundPolicy.parse(cfg.allowed_outbound_hosts),
                          body_limit=cfg.max_body)
    return HttpApp([(cfg.route, ex)], limits=limits, on_close=rt.close)


def _with_contracts(app: Any) -> Any:
    """The contract VM's DApp JSON API under /contracts beside the app (state: $WASMHIVE_STATE or .wasmhive)."""
    from ..contracts import mount_contracts

    return mount_contracts(app, os.environ.get("WASMHIVE_STATE", ".wasmhive"))


def pool_max_memory(memory: int) -> int:
    """A pool slot's memory size for serving: 4 GiB reserves no more address space than the engine's
    default 4 GiB memory reservation does, and leaves each instance's `Limits.memory` the only cap."""
    return max(memory, 4 * 1024**3)


def _tick() -> float:
    # Deadlines of requests are seconds long: a 20 ms epoch tick is precise enough, and the ticker thread
    # then takes the GIL 50 times a second instead of 200.
    return float(os.environ.get("WASMHIVE_EPOCH_TICK", "0.02"))


def _tune() -> None:
    """Process settings for serving: host calls from guest threads must get the GIL quickly."""
    import sys

    # A guest thread making a host call waits for the GIL. Shorter switch intervals (0.5 ms, 0.1 ms) were
    # measured: they cost CPU and gained no throughput, so Python's 5 ms stays (overridable for tuning).
    sys.setswitchinterval(float(os.environ.get("WASMHIVE_SWITCH_INTERVAL", "0.005")))


def app_factory() -> Any:
    """uvicorn's factory in each worker process: the config travels in an environment variable."""
    cfg = UpConfig(**json.loads(os.environ[_ENV]))
    _tune()
    from . import _ops  # cluster: health, drain, metrics (imports uvicorn: only when serving)

    return _ops.wrap(_with_contracts(build_app(cfg)), cfg)


def serve(cfg: UpConfig, *, log_level: str = "info", ready: Any = None) -> None:
    """Serve until interrupted (uvicorn; httptools and uvloop when installed)."""
    from . import _ops  # cluster: health, drain, metrics

    host, port = parse_listen(cfg.listen)
    common: dict[str, Any] = dict(host=host, port=port, log_level=log_level, access_log=False,
                                  lifespan="on", timeout_keep_alive=5, server_header=False)
    if cfg.workers > 1 or cfg.workers_max > cfg.workers:  # cluster: autoscaling needs the supervisor
        os.environ[_ENV] = json.dumps(asdict(cfg))
        _ops.run("wasmhive.http._serve:app_factory", cfg, **common)  # cluster: drain, metrics
    else:
        _tune()
        app = _ops.wrap(_with_contracts(build_app(cfg)), cfg)  # cluster: health, drain, metrics, logs
        if ready is not None:
            ready(app)
        _ops.run(app, cfg, **common)  # cluster: drain, metrics
