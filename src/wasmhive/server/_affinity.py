"""One CPU per worker process: each of several workers pins itself to its own core.

A worker is one Python process: its event loop and its guest threads take turns with the GIL several
times per request (every host call re-enters Python from the guest's native frame). When those turns
cross cores, each one is a cross-core wake-up; on one core they are cheap. Measured on a 2-core box
(docs/ARCHITECTURE.md, "Third round"): two workers each pinned to its own core served a tiny wasi:http
guest at 5,511-6,370 requests/s against 4,118-5,492 unpinned, and the componentize-py hello at 654-669
against 618-634. A single worker is left unpinned: its guests' native time may use the other cores
(pinned, the componentize-py guest halved).

Workers are started by uvicorn's supervisor, which gives them no index: a worker claims the lowest free
slot by taking an exclusive `flock` on a file of that number in a directory the parent made. The lock
lives as long as the process, so a worker that replaces a dead one takes its slot, and its core. Slot k
pins to the k-th allowed CPU (modulo their number, for more workers than CPUs). `WASMHIVE_PIN_WORKERS=0`
turns it off.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator

__all__ = ["ENV_SLOTS", "pin_worker", "worker_slots"]

ENV_SLOTS = "WASMHIVE_CPU_SLOTS"
_MAX_SLOTS = 1024
_held: list[int] = []  # the claimed slot's file descriptor, kept open (and locked) for the process's life


@contextlib.contextmanager
def worker_slots() -> Iterator[None]:
    """In the parent, around starting the workers: the slot directory they claim CPUs from."""
    if os.environ.get("WASMHIVE_PIN_WORKERS", "1") == "0" or not hasattr(os, "sched_setaffinity"):
        yield
        return
    slots = tempfile.mkdtemp(prefix="wasmhive-cpus-")
    os.environ[ENV_SLOTS] = slots
    try:
        yield
    finally:
        os.environ.pop(ENV_SLOTS, None)
        shutil.rmtree(slots, ignore_errors=True)


def pin_worker() -> int | None:
    """In a worker: claim a slot and pin every thread of this process to its CPU; the CPU, or None
    when pinning is off or not possible here (nothing changes then)."""
    slots = os.environ.get(ENV_SLOTS)
    if not slots or _held or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    for k in range(_MAX_SLOTS):
        try:
            fd = os.open(os.path.join(slots, str(k)), os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:
            return None  # the parent is gone (or the directory with it): serve unpinned
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _held.append(fd)
        cpu = cpus[k % len(cpus)]
        for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]:
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(tid), {cpu})
        return cpu
    return None
