"""`wasmhive up` on an app directory or manifest: the app platform's `App`, served by the HTTP trigger
(and its Redis triggers, `_redis_trigger.py`, when the manifest has any)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..app import App
from ..app._app import ComponentDefaults
from ..http._engine_settings import epoch_tick, pool_max_memory
from ..runtime import Runtime
from ._redis_trigger import start_redis_triggers

__all__ = ["CRON_ELSEWHERE", "build"]

CRON_ELSEWHERE = "WASMHIVE_CRON_ELSEWHERE"  # set for `--workers N` workers: the supervisor runs the schedule


def build(cfg: Any, limits: Any, progress: Callable[[str, float | None, str], None] | None = None) -> Any:
    """The `HttpApp` for the app at `cfg.path` (an `UpConfig`): the app's variables and stores, the
    operator's `timeout`/`memory`/`env`/`allowed_outbound_hosts` as defaults under the manifest's own
    values, and the same engine (pooling, epoch tick) a single component gets."""
    defaults = ComponentDefaults(timeout=cfg.timeout, memory=cfg.memory, env=dict(cfg.env),
                                 allowed_outbound_hosts=tuple(cfg.allowed_outbound_hosts), body_limit=cfg.max_body)
    rt = Runtime(pooling=cfg.pooling, pooling_max_memory=pool_max_memory(cfg.memory or 0),
                 cache=None if cfg.cache else False, tick=epoch_tick(), concurrency=False)
    try:
        app = App.load(cfg.path, variables=cfg.variables or None, runtime_config=cfg.runtime_config,
                       key_value=cfg.key_value or None, runtime=rt, defaults=defaults, progress=progress,
                       sqlite=cfg.sqlite or None)
    except BaseException:
        rt.close()
        raise
    http = app.http_app(limits)
    previous = http._on_close
    # Spin's cron trigger (server/_cron_trigger.py): one schedule per server, not one per worker process.
    from ._cron_trigger import start_cron

    try:
        http.cron = cron = None if os.environ.get(CRON_ELSEWHERE) else start_cron(app)
    except BaseException:
        http.close()
        rt.close()
        raise
    try:  # the app's [[trigger.redis]] subscriptions (none: None)
        redis_triggers = start_redis_triggers(app, max(cfg.workers, cfg.workers_max))
    except BaseException:
        if cron is not None:
            cron.close()
        http.close()
        rt.close()
        raise

    def close() -> None:
        if cron is not None:
            cron.close()
        if redis_triggers is not None:
            redis_triggers.close()
        if previous is not None:
            previous()
        rt.close()

    http._on_close = close
    return http
