"""`wasi:io` 0.2.x (error, poll, streams) as host functions over the objects in `_streams.py`.

Values follow the component layer's value convention (see `wasmhive.component._convert`): a function
returning `result<T, stream-error>` returns its ok value (bytes, a count, None) and raises
`ResultError(Variant("closed"))` or `ResultError(Variant("last-operation-failed", error_rep))` for `err`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wasmtime.component import LinkerInstance

from ..component._hostcall import HostTrap, define_func, define_resource, define_table, wit
from ..component._values import ResultError, Variant
from ._state import HOST_RESOURCES, HostState, Res, current
from ._streams import InputStream, IoError, OutputStream, Pollable, StreamClosed

__all__ = ["INTERFACES", "block_on", "stream_error", "stream_failed"]

_MAX_READ = 1 << 20  # bytes handed to the guest per read, whatever length it asks for


# Set by the linker builder (under its lock) to learn which functions an interface defined.
recording: Any = None


def fn(inst: LinkerInstance, name: str, func: Callable[..., Any]) -> None:
    """Define host function `name` (the component layer's values) with our resource ids."""
    if recording is not None:
        recording.names.add(name)
    define_func(inst, name, func, host_resources=HOST_RESOURCES)


def dropper(st_get: Callable[[], HostState] = current) -> Callable[[int], None]:
    """A resource destructor: forget the rep and close the object."""
    def drop(rep: int) -> None:
        obj = st_get().table.pop(rep)
        close = getattr(obj, "close", None)
        if close is not None:
            close()
    return drop


def stream_error(st: HostState, e: Exception) -> Variant:
    """The `stream-error` for `e`: `closed`, else `last-operation-failed` with a new `error` resource's rep."""
    if isinstance(e, StreamClosed):
        return Variant("closed")
    return Variant("last-operation-failed", st.table.add(e if isinstance(e, IoError) else IoError(str(e))))


def stream_failed(st: HostState, e: Exception) -> ResultError:
    """What a stream function raises for `e`: the `err(stream-error)` of its `result` (`stream_error`)."""
    return ResultError(stream_error(st, e))


def block_on(st: HostState, pollables: list[Pollable]) -> list[int]:
    """Wait until at least one pollable is ready (bounded by the instance deadline); their indexes."""
    while True:
        seen = st.waker.generation()
        ready = [i for i, p in enumerate(pollables) if p.ready()]
        if ready:
            return ready
        timeout = st.remaining()
        timers = [p.when for p in pollables if p.when is not None]
        if timers:
            t = max(0.0, min(timers) - time.monotonic())
            timeout = t if timeout is None else min(timeout, t)
        st.waker.wait(seen, timeout)


# -- wasi:io/error ----------------------------------------------------------------------------------
def link_error(inst: LinkerInstance) -> None:
    define_resource(inst, "error", Res.IO_ERROR, dropper())
    fn(inst, "[method]error.to-debug-string", lambda rep: str(current().table.get(rep)))


# -- wasi:io/poll -----------------------------------------------------------------------------------
def link_poll(inst: LinkerInstance) -> None:
    define_resource(inst, "pollable", Res.POLLABLE, dropper())

    def ready(rep: int) -> bool:
        return bool(current().table.get(rep).ready())

    def block(rep: int) -> None:
        st = current()
        block_on(st, [st.table.get(rep)])

    def poll(reps: list[int]) -> list[int]:
        if not reps:
            raise HostTrap("poll: empty list of pollables")
        st = current()
        return block_on(st, [st.table.get(r) for r in reps])

    fn(inst, "[method]pollable.ready", ready)
    fn(inst, "[method]pollable.block", block)
    fn(inst, "poll", poll)


# -- wasi:io/streams --------------------------------------------------------------------------------
def link_streams(inst: LinkerInstance) -> None:
    define_resource(inst, "input-stream", Res.INPUT_STREAM, dropper())
    define_resource(inst, "output-stream", Res.OUTPUT_STREAM, dropper())
    define_table(inst, _InputStreams(), fn)
    define_table(inst, _OutputStreams(), fn)


def _guarded(op: Callable[..., Any]) -> Callable[..., Any]:
    """Stream operation `op(st, stream, *args)` as a method `(rep, *args)`; a stream failure is `err`."""
    def method(self: object, rep: int, *args: Any) -> Any:
        st = current()
        s = st.table.get(rep)
        try:
            return op(st, s, *args)
        except (StreamClosed, IoError) as e:
            raise stream_failed(st, e) from None
    return method


def _read(st: HostState, s: InputStream, n: int) -> bytes:
    return s.read(min(n, _MAX_READ)) if n else b""


def _blocking_read(st: HostState, s: InputStream, n: int) -> bytes:
    if n == 0:
        return b""
    while True:
        chunk = s.read(min(n, _MAX_READ))
        if chunk:
            return chunk
        s.wait_ready(st.waker, st.remaining)


class _InputStreams:
    """`input-stream`: at most `_MAX_READ` bytes per read, whatever the guest asks for."""

    read = wit("[method]input-stream.read")(_guarded(_read))
    blocking_read = wit("[method]input-stream.blocking-read")(_guarded(_blocking_read))
    skip = wit("[method]input-stream.skip")(_guarded(lambda st, s, n: len(_read(st, s, n))))
    blocking_skip = wit("[method]input-stream.blocking-skip")(_guarded(lambda st, s, n: len(_blocking_read(st, s, n))))

    @wit("[method]input-stream.subscribe")
    def subscribe(self, rep: int) -> int:
        st = current()
        s: InputStream = st.table.get(rep)
        return st.table.add(Pollable(s.ready))


def _write(st: HostState, s: OutputStream, data: bytes) -> None:
    if len(data) > s.capacity():
        raise HostTrap("output-stream.write: more bytes than check-write permitted")
    s.write(data)


def _blocking_write_and_flush(st: HostState, s: OutputStream, data: bytes) -> None:
    # The contract allows 4096 bytes per call; more is accepted, in capacity-sized pieces.
    view, whole = memoryview(data), True
    while view:
        cap = s.wait_capacity(st.waker, st.remaining)
        if cap >= len(view):
            s.write(data if whole else bytes(view))
            break
        s.write(bytes(view[:cap]))
        view, whole = view[cap:], False
    _blocking_flush(st, s)


def _blocking_flush(st: HostState, s: OutputStream) -> None:
    s.flush()
    s.wait_capacity(st.waker, st.remaining)


def _splice(st: HostState, s: OutputStream, src_rep: int, n: int, blocking: bool = False) -> int:
    src: InputStream = st.table.get(src_rep)
    cap = s.wait_capacity(st.waker, st.remaining) if blocking else s.capacity()
    n = min(n, cap, _MAX_READ)
    if n == 0:
        return 0
    while True:
        chunk = src.read(n)
        if chunk or not blocking:
            break
        src.wait_ready(st.waker, st.remaining)
    if chunk:
        s.write(chunk)
    return len(chunk)


class _OutputStreams:
    """`output-stream`: writes within the capacity `check-write` reports; the blocking ones wait for it."""

    check_write = wit("[method]output-stream.check-write")(_guarded(lambda st, s: s.capacity()))
    write = wit("[method]output-stream.write")(_guarded(_write))
    blocking_write_and_flush = wit("[method]output-stream.blocking-write-and-flush")(
        _guarded(_blocking_write_and_flush))
    flush = wit("[method]output-stream.flush")(_guarded(lambda st, s: s.flush()))
    blocking_flush = wit("[method]output-stream.blocking-flush")(_guarded(_blocking_flush))
    write_zeroes = wit("[method]output-stream.write-zeroes")(_guarded(lambda st, s, n: _write(st, s, bytes(n))))
    blocking_write_zeroes = wit("[method]output-stream.blocking-write-zeroes-and-flush")(
        _guarded(lambda st, s, n: _blocking_write_and_flush(st, s, bytes(n))))
    splice = wit("[method]output-stream.splice")(_guarded(_splice))
    blocking_splice = wit("[method]output-stream.blocking-splice")(
        _guarded(lambda st, s, src, n: _splice(st, s, src, n, blocking=True)))

    @wit("[method]output-stream.subscribe")
    def subscribe(self, rep: int) -> int:
        st = current()
        s: OutputStream = st.table.get(rep)
        return st.table.add(Pollable(lambda: s.capacity() != 0))


# interface name (without package version) -> linker function
INTERFACES: dict[str, Callable[[LinkerInstance], None]] = {
    "wasi:io/error": link_error,
    "wasi:io/poll": link_poll,
    "wasi:io/streams": link_streams,
}
