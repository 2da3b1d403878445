"""`wasi:clocks` (monotonic and wall clock, with timer pollables) and `wasi:cli` stdin/stdout/stderr.

Both touch `wasi:io` types, so they live with our `wasi:io` (wasmtime's clocks would hand out wasmtime's
own pollables). Guest output goes to the instance's `stdout`/`stderr` callbacks; stdin is empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from wasmtime.component import LinkerInstance

from ._io import fn
from ._state import current
from ._streams import BufferInput, NullOutput, Pollable, SinkOutput

__all__ = ["INTERFACES"]


def link_monotonic(inst: LinkerInstance) -> None:
    def subscribe_instant(when: int) -> int:
        return current().table.add(Pollable(when=when / 1e9))

    def subscribe_duration(ns: int) -> int:
        return current().table.add(Pollable(when=time.monotonic() + ns / 1e9))

    fn(inst, "now", time.monotonic_ns)
    fn(inst, "resolution", lambda: 1)
    fn(inst, "subscribe-instant", subscribe_instant)
    fn(inst, "subscribe-duration", subscribe_duration)


def link_wall(inst: LinkerInstance) -> None:
    def now() -> dict[str, int]:
        ns = time.time_ns()
        return {"seconds": ns // 1_000_000_000, "nanoseconds": ns % 1_000_000_000}

    fn(inst, "now", now)
    fn(inst, "resolution", lambda: {"seconds": 0, "nanoseconds": 1000})


def link_stdin(inst: LinkerInstance) -> None:
    fn(inst, "get-stdin", lambda: current().table.add(BufferInput(b"")))


def _link_out(which: str) -> Callable[[LinkerInstance], None]:
    def link(inst: LinkerInstance) -> None:
        def get() -> int:
            st = current()
            sink = st.stdout if which == "stdout" else st.stderr
            return st.table.add(SinkOutput(sink) if sink is not None else NullOutput())
        fn(inst, f"get-{which}", get)
    return link


INTERFACES: dict[str, Callable[[LinkerInstance], None]] = {
    "wasi:clocks/monotonic-clock": link_monotonic,
    "wasi:clocks/wall-clock": link_wall,
    "wasi:cli/stdin": link_stdin,
    "wasi:cli/stdout": _link_out("stdout"),
    "wasi:cli/stderr": _link_out("stderr"),
}
