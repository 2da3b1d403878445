"""`wasmhive up` on an app directory or manifest: the app platform's `App`, served by the HTTP trigger."""

from __future__ import annotations

from typing import Any

__all__ = ["build"]


def build(cfg: Any, limits: Any) -> Any:
    """The `HttpApp` for the app at `cfg.path` (an `UpConfig`), with the app's variables and stores."""
    from ..app import App
    from ..runtime import Runtime
    from ._serve import pool_max_memory

    rt = Runtime(pooling=getattr(cfg, "pooling", False), pooling_max_memory=pool_max_memory(0),
                 cache=None if getattr(cfg, "cache", True) else False)
    try:
        app = App.load(cfg.path, variables=getattr(cfg, "variables", None) or None,
                       runtime_config=getattr(cfg, "runtime_config", None),
                       key_value=getattr(cfg, "key_value", None) or None, runtime=rt)
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
