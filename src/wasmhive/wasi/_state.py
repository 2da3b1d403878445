"""Per-instance host state: the resource table, captured stdio, the deadline, found from the calling store.

Host functions are defined once per linker and serve every instance; each call finds its instance's
state from the store the host call receives (`component._hostcall.calling_store()`, the
`wasmtime_context_t` wasmtime passes the trampoline), in the table `attach(store, state)` fills for the
duration of an export call. The state's slots for the layers above are typed (`http`, `capabilities`,
`calls`), not looked up by string keys. (`bound(state)` binds a state to the running thread instead:
for hosts whose calls do not come through the component layer's trampoline, i.e. the `canon` prototype.)
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol

import wasmtime
import wasmtime.component as wc

from ..component._hostcall import HostTrap, calling_store
from ..component._restypes import allocate, register
from ._streams import Waker

__all__ = ["HOST_RESOURCES", "CallHooks", "CallSpan", "DeadlineHit", "HostState", "HttpSettings", "Res",
           "ResourceTable", "attach", "bound", "current", "current_or_none", "resource_id"]


class CallSpan(Protocol):
    """One capability call in progress."""

    def headers(self) -> list[tuple[str, str]]:
        """Trace-propagation headers (`traceparent`, ...) for an outbound request; [] when not tracing."""
        ...

    def end(self, outcome: str) -> None:
        """The call finished: `outcome` is "ok" or the name of its error."""
        ...


class CallHooks(Protocol):
    """What the trigger hands down: starts a `CallSpan` per capability call."""

    def start(self, capability: str, op: str, attrs: dict[str, str | int]) -> CallSpan: ...


class HttpSettings(Protocol):
    """The wasi:http layer's per-instance settings, set by the HTTP trigger (`http._executor.HttpContext`)."""

    outbound: Any  # an `OutboundPolicyLike`, or None: no outbound requests
    body_limit: int | None
    self_requests: Any  # a `LocalTransport` for requests to the app itself, or None


class Res:
    """Host resource type ids (`ResourceType.host(id)`) of the interfaces implemented in Python, from the
    component layer's one id space (`component._restypes`)."""

    POLLABLE = allocate("wasi:io/poll#pollable")
    IO_ERROR = allocate("wasi:io/error#error")
    INPUT_STREAM = allocate("wasi:io/streams#input-stream")
    OUTPUT_STREAM = allocate("wasi:io/streams#output-stream")
    FIELDS = allocate("wasi:http/types#fields")
    INCOMING_REQUEST = allocate("wasi:http/types#incoming-request")
    OUTGOING_REQUEST = allocate("wasi:http/types#outgoing-request")
    REQUEST_OPTIONS = allocate("wasi:http/types#request-options")
    RESPONSE_OUTPARAM = allocate("wasi:http/types#response-outparam")
    INCOMING_RESPONSE = allocate("wasi:http/types#incoming-response")
    INCOMING_BODY = allocate("wasi:http/types#incoming-body")
    FUTURE_TRAILERS = allocate("wasi:http/types#future-trailers")
    OUTGOING_RESPONSE = allocate("wasi:http/types#outgoing-response")
    OUTGOING_BODY = allocate("wasi:http/types#outgoing-body")
    FUTURE_INCOMING_RESPONSE = allocate("wasi:http/types#future-incoming-response")


# id -> ResourceType of every id above and of `resource_id`'s (kept for callers that pass
# `host_resources=HOST_RESOURCES`; the converters find host resources in the one registry).
HOST_RESOURCES: dict[int, wc.ResourceType] = {
    v: register(v) for k, v in vars(Res).items() if k.isupper()
}
_dynamic_lock = threading.Lock()


def resource_id(name: str) -> int:
    """A stable host id for a resource declared by a generated (deny-all) interface, e.g.
    `wasi:filesystem/types#descriptor` (version-less, so every 0.2.x shares it)."""
    with _dynamic_lock:
        rid = allocate(name)
        HOST_RESOURCES[rid] = register(rid)
        return rid


class DeadlineHit(HostTrap):
    """A blocking host call ran into the instance's deadline (the guest is ended as if interrupted)."""


class ResourceTable:
    """The host resources one instance holds: rep (u32) → Python object. Reps are unique across types."""

    __slots__ = ("_items", "_next")

    def __init__(self) -> None:
        self._items: dict[int, Any] = {}
        self._next = 1

    def add(self, obj: Any) -> int:
        rep = self._next
        self._next = rep + 1
        self._items[rep] = obj
        return rep

    def get(self, rep: int) -> Any:
        try:
            return self._items[rep]
        except KeyError:
            raise HostTrap(f"unknown resource handle {rep}") from None

    def pop(self, rep: int) -> Any:
        return self._items.pop(rep, None)

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        """Close what the guest never dropped (handles alive when the store goes get no destructor call)."""
        items, self._items = self._items, {}
        for obj in items.values():
            close = getattr(obj, "close", None)
            if close is not None:
                with suppress(Exception):  # a failing close must not hide the request's outcome
                    close()


class HostState:
    """Everything the wasi host functions need for one instance.

    `deadline` is a `time.monotonic()` value (or None): blocking host calls wait at most until then, since
    epoch interruption cannot end a guest that is blocked inside a host call.
    `stdout`/`stderr` receive the guest's output lines (the trigger logs them with the component's name).
    The layers above keep their per-instance state in typed slots: `http` (wasi:http settings),
    `capabilities` (the capabilities' `InstanceContext`), `calls` (trace/metrics hooks).
    """

    def __init__(self, *, deadline: float | None = None, stdout: Callable[[bytes], None] | None = None,
                 stderr: Callable[[bytes], None] | None = None, name: str = "guest") -> None:
        self.table = ResourceTable()
        self.deadline = deadline
        self.stdout = stdout
        self.stderr = stderr
        self.name = name
        self.http: HttpSettings | None = None
        self.capabilities: Any = None  # `capabilities.InstanceContext` (a layer above this one)
        self.calls: CallHooks | None = None
        self.deadline_hit = False
        self.waker = Waker()

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline). Raises `DeadlineHit` when past it."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.deadline_hit = True
            raise DeadlineHit("deadline reached while the guest was blocked in a host call")
        return left

    def close(self) -> None:
        self.table.close()
        close = getattr(self.capabilities, "close", None)
        if close is not None:
            with suppress(Exception):  # a failing close must not hide the request's outcome
                close()


_local = threading.local()
# store context address → the state of the instance in that store, while an export call runs
_attached: dict[int, HostState] = {}


def current_or_none() -> HostState | None:
    """The state of the instance whose guest is making the host call running on this thread, or None."""
    ctx = calling_store()
    if ctx:
        state = _attached.get(ctx)
        if state is not None:
            return state
    return getattr(_local, "state", None)


def current() -> HostState:
    """The state of the instance whose guest is making the host call running on this thread."""
    state = current_or_none()
    if state is None:
        raise HostTrap("host call outside a request (no instance state attached to the calling store)")
    return state


@contextmanager
def attach(store: wasmtime.Store, state: HostState) -> Iterator[HostState]:
    """Make `state` the state of every host call from `store` for the duration of the block."""
    ctx = ctypes.addressof(store._context().contents)
    _attached[ctx] = state
    try:
        yield state
    finally:
        _attached.pop(ctx, None)


@contextmanager
def bound(state: HostState) -> Iterator[HostState]:
    """Bind `state` to this thread for the duration of an export call (hosts without our trampoline)."""
    prev = getattr(_local, "state", None)
    _local.state = state
    try:
        yield state
    finally:
        _local.state = prev
