"""Small shared helpers for the benchmark scripts: timing, medians, whole-process timing, tables.

    measure(fn, runs, warmup=1) -> list[float]         seconds per call of fn()
    measure_process(cmd, runs, warmup=1) -> list[float] seconds per run of a whole process
    median(values) -> float
    fmt_time(seconds) -> str                            "37.2 µs", "12.5 ms", "1.30 s"
    table(title, header, rows) -> str                   a plain-text table (first column left-aligned)
    stop_group(proc, grace=30)                          SIGTERM a server's process group, SIGKILL after grace

Benchmarks live outside pytest and print ratios measured in the same run; nothing here asserts speed.
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["fmt_time", "measure", "measure_process", "median", "stop_group", "table"]


def median(values: Sequence[float]) -> float:
    """The median (robust to the odd slow run a shared machine produces)."""
    return float(statistics.median(values))


def measure(fn: Callable[[], Any], runs: int, warmup: int = 1) -> list[float]:
    """Call `fn` `warmup` times untimed, then `runs` times timed; seconds per call.

    The garbage collector is paused while timing, so a collection triggered by earlier garbage is not
    charged to one unlucky call (it runs between measurements instead).
    """
    for _ in range(warmup):
        fn()
    times = []
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for i in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            if i % 256 == 255:
                gc.collect()
    finally:
        if enabled:
            gc.enable()
    return times


def measure_process(cmd: Sequence[str], runs: int, warmup: int = 1, env: dict[str, str] | None = None,
                    check: bool = True) -> list[float]:
    """Start `cmd` as a whole process `runs` times (stdout/stderr discarded); seconds per run, wall clock."""
    full_env = {**os.environ, **(env or {})}

    def once() -> None:
        proc = subprocess.run(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env,
                              stdin=subprocess.DEVNULL, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")

    for _ in range(warmup):
        once()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return times


def fmt_time(seconds: float) -> str:
    """Seconds in the unit that reads best."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the rest right-aligned (also valid Markdown)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(parts) + " |"

    sep = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([f"{title}\n", line(header), sep, *(line(r) for r in rows)])


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """Stop a server started with `start_new_session=True`: SIGTERM to its process group (workers too),
    SIGKILL if it has not exited after `grace` seconds."""
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
