"""The operational layer `wasmhive up` puts around a served app: health, drain, metrics, autoscaling, logs.

Kept out of the HTTP trigger itself: these answer for the process (is it ready, is it draining, what has
it served), not for the app, and an app mounted in another ASGI server brings that server's own.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from . import _drain
from ._drain import DrainState
from ._health import Health
from ._inflight import LOAD_DIR_ENV, InFlight

__all__ = ["run", "wrap"]


def wrap(app: Any, cfg: Any) -> Any:
    """`app` with the readiness/liveness paths, the SIGTERM drain, `/metrics` (`cfg.metrics`) and request
    ids for JSON logs (`cfg.log_format`), and traces (`cfg.traces`)."""
    if getattr(cfg, "idle_unload", 0.0) > 0:
        from ._idle import unload_idle

        unload_idle(getattr(app, "inner", app), cfg.idle_unload)  # before Metrics reads the targets
    if getattr(cfg, "traces", False):
        from ._tracing import enable_tracing

        enable_tracing(getattr(app, "inner", app))  # in each worker: its own exporter thread
    if getattr(cfg, "metrics", False):
        from ._metrics import Metrics

        app = Metrics(app, getattr(app, "inner", app))  # the HttpApp inside the contracts mount
    if os.environ.get(LOAD_DIR_ENV):  # an autoscaled worker: its requests in flight, for the supervisor
        try:
            app = InFlight(app, os.environ[LOAD_DIR_ENV])  # inside Health: probes are not load
        except OSError as e:  # the supervisor then scales this worker on CPU alone; it still serves
            logging.getLogger("wasmhive.autoscale").warning("cannot report requests in flight: %s", e)
    app = Health(app, DrainState(delay=getattr(cfg, "drain_delay", 0.0)))
    if getattr(cfg, "log_format", "text") == "json":
        from ._jsonlog import RequestIds

        app = RequestIds(app)  # outermost: every answer, health and metrics too, carries an id
    return app


def run(app: Any, cfg: Any, *, sock: Any = None, **options: Any) -> None:
    """Serve `app` (with several workers: the factory's import string) as `cfg` says, until SIGTERM.

    With `--metrics` and several workers, the workers share a private metrics directory (removed at the
    end) unless `$PROMETHEUS_MULTIPROC_DIR` names one already.
    """
    from ._metrics import MULTIPROC_ENV

    private = None
    several = cfg.workers > 1 or getattr(cfg, "workers_max", 0) > cfg.workers
    if getattr(cfg, "metrics", False) and several and not os.environ.get(MULTIPROC_ENV):
        private = tempfile.mkdtemp(prefix="wasmhive-metrics-")
        os.environ[MULTIPROC_ENV] = private  # inherited by the worker processes
    if getattr(cfg, "log_format", "text") == "json":
        from ._jsonlog import log_config

        options["log_config"] = log_config(options.get("log_level", "info"))
    autoscale, load_dir = None, None
    if getattr(cfg, "workers_max", 0) > cfg.workers:
        from ._autoscale import AutoscalePolicy

        autoscale = AutoscalePolicy.from_env(cfg.workers, cfg.workers_max, getattr(cfg, "threads", 4))
        load_dir = tempfile.mkdtemp(prefix="wasmhive-load-")  # each worker's requests in flight
        os.environ[LOAD_DIR_ENV] = load_dir  # inherited by the worker processes
    try:
        _drain.run(app, workers=cfg.workers, drain_timeout=cfg.drain_timeout, autoscale=autoscale, sock=sock,
                   load_dir=load_dir, **options)
    finally:
        if private is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(private, ignore_errors=True)
        if load_dir is not None:
            os.environ.pop(LOAD_DIR_ENV, None)
            shutil.rmtree(load_dir, ignore_errors=True)
