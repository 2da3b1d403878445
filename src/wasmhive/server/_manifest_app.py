"""`wasmhive up` on an app directory or manifest: the app platform's `App`, served by the HTTP trigger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..app import App
from ..app._app import ComponentDefaults
from ..http._engine_settings import epoch_tick, pool_max_memory
from ..runtime import Runtime

__all__ = ["build"]


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

    def close() -> None:
        if previous is not None:
            previous()
        rt.close()

    http._on_close = close
    return http
