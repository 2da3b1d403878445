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
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any

from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from ._autoscale import AutoscalePolicy, Autoscaler, cpu_seconds
from ._inflight import request_seconds

__all__ = ["DrainState", "run"]

log = logging.getLogger("wasmhive.autoscale")  # shown like the access log (http/_logs.py)
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


def run(app: Any, *, workers: int, drain_timeout: float, autoscale: AutoscalePolicy | None = None,
        sock: socket.socket | None = None, load_dir: str | None = None, **options: Any) -> None:
    """Serve `app` (an ASGI app, or with several workers the import string of a factory) until SIGTERM/SIGINT.

    `autoscale` varies the worker count between its bounds (starting from `workers`), reading the workers'
    requests in flight from `load_dir` (`_inflight.py`) when given. `options` are uvicorn
    `Config` options (host, port, log_level, ...); `sock`, a socket already bound and listening, replaces
    host and port.
    """
    import uvicorn

    multi = workers > 1 or autoscale is not None
    # uvicorn takes whole seconds here: round up, so the bound given is never cut short.
    config = uvicorn.Config(app, workers=workers, factory=multi,
                            timeout_graceful_shutdown=math.ceil(drain_timeout), **options)
    if multi:
        import inspect

        if sock is None:
            sock = config.bind_socket()
        extra: dict[str, Any] = {}
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.5x took the target
            extra["target"] = uvicorn.Server(config).run
        with contextlib.suppress(KeyboardInterrupt):
            supervisor = _Supervisor(config, sockets=[sock], **extra)
            supervisor.autoscaler = Autoscaler(autoscale) if autoscale is not None else None
            supervisor.load_dir = load_dir
            supervisor.run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=None if sock is None else [sock])
    if not server.started:
        sys.exit(_STARTUP_FAILURE)


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, closing its own listening socket before it stops the workers, and
    adding or retiring workers when an `Autoscaler` says so (checked on the supervisor's 0.5 s tick)."""

    autoscaler: Autoscaler | None = None
    load_dir: str | None = None
    _cpu: dict[int, float]
    _queue: dict[int, float]
    _sampled: float = 0.0

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        if self.autoscaler is not None and not self.should_exit.is_set():
            self._autoscale()

    def _autoscale(self) -> None:
        assert self.autoscaler is not None
        now = time.monotonic()
        pids = [p.pid for p in self.processes if p.pid is not None]
        used = {pid: cpu_seconds(pid) for pid in pids}
        previous, self._cpu = getattr(self, "_cpu", {}), {pid: t for pid, t in used.items() if t is not None}
        held = {pid: request_seconds(self.load_dir, pid) for pid in pids} if self.load_dir else {}
        before, self._queue = getattr(self, "_queue", {}), {pid: t for pid, t in held.items() if t is not None}
        elapsed, self._sampled = now - self._sampled, now
        deltas = [t - previous[pid] for pid, t in self._cpu.items() if pid in previous]
        if not deltas or elapsed <= 0:
            return  # the first sample, or every worker is new
        load = sum(deltas) / elapsed / len(self.processes)
        # A worker still starting has not reported yet: it holds no request, and counts as a worker.
        queue = sum(t - before[pid] for pid, t in self._queue.items() if pid in before) / elapsed / len(self.processes)
        step = self.autoscaler.observe(now, load, len(self.processes), queue)
        if step > 0:
            # uvicorn before 0.5x passed the supervisor's target to each Process as well.
            target = getattr(self, "target", None)
            args: tuple[Any, ...] = (self.config, target, self.sockets) if target is not None else \
                (self.config, self.sockets)
            process = Process(*args)
            process.start()
            self.processes.append(process)
        elif step < 0:
            process = self.processes.pop()
            if process.pid is not None:
                os.kill(process.pid, signal.SIGINT)  # finish in-flight requests, no drain delay
            threading.Thread(target=self._retire, args=(process,), daemon=True).start()  # keep ticking meanwhile
        if step:
            self.processes_num = len(self.processes)
            log.info("autoscale: %d -> %d workers (per worker: CPU %.2f, %.1f requests in flight)",
                     len(self.processes) - step, len(self.processes), load, queue)

    def _retire(self, process: Process) -> None:
        process.join()
        if self.load_dir and process.pid is not None:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.load_dir, str(process.pid)))
