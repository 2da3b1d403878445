"""Per-instance host state: the resource table, captured stdio, the deadline, found by the running thread.

Host functions are defined once per linker and serve every instance; each call finds its instance's
state through a thread-local (a guest runs on one thread for its whole call, and every host call it
makes happens on that thread). The trigger binds the state around each export call with `bound(state)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import wasmtime.component as wc

from ..component._hostcall import HostTrap
from ..component._restypes import allocate, register
from ._streams import Waker

__all__ = ["HOST_RESOURCES", "DeadlineHit", "HostState", "Res", "ResourceTable", "bound", "current", "resource_id"]


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
    `extra` holds the state of other host layers (wasi:http, capabilities) by name.
    """

    def __init__(self, *, deadline: float | None = None, stdout: Callable[[bytes], None] | None = None,
                 stderr: Callable[[bytes], None] | None = None, name: str = "guest") -> None:
        self.table = ResourceTable()
        self.deadline = deadline
        self.stdout = stdout
        self.stderr = stderr
        self.name = name
        self.extra: dict[str, Any] = {}
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
        for value in self.extra.values():
            close = getattr(value, "close", None)
            if close is not None:
                with suppress(Exception):
                    close()


_local = threading.local()


def current() -> HostState:
    """The state of the instance whose guest is calling on this thread."""
    try:
        state: HostState = _local.state
    except AttributeError:
        state = None  # type: ignore[assignment]
    if state is None:
        raise HostTrap("host call outside a request (no instance state bound to this thread)")
    return state


@contextmanager
def bound(state: HostState) -> Iterator[HostState]:
    """Bind `state` to this thread for the duration of an export call."""
    prev = getattr(_local, "state", None)
    _local.state = state
    try:
        yield state
    finally:
        _local.state = prev
