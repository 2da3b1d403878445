"""Graceful drain on SIGTERM, so a rolling restart behind a load balancer loses no request.

On SIGTERM a `wasmhive up` process:
1. reports not-ready at once (`/.well-known/wasmhive/ready` answers 503) and keeps serving for
   `drain_delay` seconds, so health checks take it out of the pool before it stops accepting;
2. stops accepting: the listening socket is closed (new connections are refused), idle keep-alive
   connections are closed, in-flight requests run to completion;
3. after `drain_timeout` seconds, requests still running are cancelled; then the app is closed and the
   process exits.

Steps 2 and 3 are uvicorn's own shutdown (`timeout_graceful_shutdown`). With several workers the
supervisor also closes its copy of the listening socket first: otherwise the kernel would keep queueing
connections that no worker will ever answer until the supervisor exits.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from types import FrameType
from typing import Any

from uvicorn.supervisors import Multiprocess

__all__ = ["DrainState", "run"]

_STARTUP_FAILURE = 3  # uvicorn's exit status when the app cannot start


class DrainState:
    """Whether this process is draining, and the SIGTERM hook that starts the drain.

    Signals are per process, so there is one of these per worker process; `install` must run on the
    main thread after the server has installed its own handlers (the ASGI lifespan startup does).
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._draining = threading.Event()
        self._installed = False

    @property
    def draining(self) -> bool:
        """True from the first SIGTERM on."""
        return self._draining.is_set()

    def install(self) -> None:
        """Chain a SIGTERM handler in front of the server's: mark draining, wait `delay`, then shut down."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return  # nobody shuts the server down on SIGTERM: leave the default (exit) alone
        self._installed = True

        def on_term(sig: int, frame: FrameType | None) -> None:
            if self._draining.is_set():
                # Already draining: a process-group SIGTERM (systemd) reaches a worker twice, once
                # from the sender and once from the supervisor; neither may cut the delay short.
                return
            self._draining.set()
            if self.delay <= 0:
                previous(sig, frame)
            else:
                timer = threading.Timer(self.delay, previous, (sig, None))
                timer.daemon = True
                timer.start()

        signal.signal(signal.SIGTERM, on_term)


def run(app: Any, *, workers: int, drain_timeout: float, **options: Any) -> None:
    """Serve `app` (an ASGI app, or with `workers` > 1 the import string of a factory) until SIGTERM/SIGINT.

    `options` are uvicorn `Config` options (host, port, log_level, ...).
    """
    import uvicorn

    multi = workers > 1
    # uvicorn takes whole seconds here: round up, so the bound given is never cut short.
    config = uvicorn.Config(app, workers=workers, factory=multi,
                            timeout_graceful_shutdown=math.ceil(drain_timeout), **options)
    if multi:
        import inspect

        sock = config.bind_socket()
        extra: dict[str, Any] = {}
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.5x took the target
            extra["target"] = uvicorn.Server(config).run
        with contextlib.suppress(KeyboardInterrupt):
            _Supervisor(config, sockets=[sock], **extra).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(_STARTUP_FAILURE)


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, closing its own listening socket before it stops the workers."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()
