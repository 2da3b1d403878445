"""A live core-module instance: its store, exports as Python callables, memory views."""

from __future__ import annotations

import ctypes
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import wasmtime
from wasmtime._extern import wrap_extern

from ..errors import GuestError, LimitExceeded, translate
from ._capi import ffi
from ._expose import HIDDEN_PREFIX
from ._limits import Limits
from ._memory import GuestMemory
from ._sandbox import Capture

__all__ = ["Exports", "Instance", "guest_error", "out_of_memory"]

WASM_PAGE = 65536


def guest_error(exc: BaseException, limits: Limits, memories: list[int] | None = None,
                cap: int | None = None) -> GuestError | Any:
    """Translate a wasmtime failure, attributing a trap that follows a denied `memory.grow` to the limit.

    `memories`: the sizes of the guest's memories now; `cap`: the most each may hold (its share of
    `limits.memory`; the whole limit when not given)."""
    err = translate(exc, timeout=limits.timeout, fuel=limits.fuel)
    cap = limits.memory if cap is None or cap < 0 else cap
    if (cap is not None and memories and not isinstance(err, LimitExceeded)
            and type(err).__name__ == "GuestTrap" and max(memories) + WASM_PAGE > cap):
        share = f", {cap} bytes per memory" if cap != limits.memory else ""
        return LimitExceeded("memory", limits.memory,
                             f"guest memory limit reached (memory = {limits.memory} bytes{share}) and the guest "
                             f"trapped: {err}")
    return err


# What a guest says (on stderr, or in its backtrace's function names) when an allocation failed because
# `memory.grow` was refused: Python's MemoryError, Rust's alloc error handler, C++'s bad_alloc, libc's
# ENOMEM text. Only used for components, whose memories the host cannot measure (see `out_of_memory`).
_OOM = re.compile(rb"MemoryError|memory allocation of \d+ bytes failed|out of memory|Cannot allocate memory|"
                  rb"bad_alloc|alloc_error|PyErr_NoMemory", re.IGNORECASE)


def out_of_memory(err: BaseException, limits: Limits, stderr: bytes = b"") -> LimitExceeded | None:
    """A component's abort (`unreachable`) after an allocation failed, as the memory limit it hit.

    The C API gives a host no view of a component's memories (core modules' it does: `guest_error`),
    so the evidence is what the guest left: its last stderr output or its backtrace naming an
    allocation failure. None when there is no such evidence or no memory limit."""
    if limits.memory is None or not isinstance(err, GuestError) or isinstance(err, LimitExceeded):
        return None
    if getattr(err, "code", None) != "unreachable":
        return None
    frames = " ".join(f.func or "" for f in getattr(err, "backtrace", [])).encode()
    if not (_OOM.search(stderr[-8192:]) or _OOM.search(frames)):
        return None
    return LimitExceeded("memory", limits.memory,
                         f"guest ran out of memory: its allocation failed at the memory limit (memory = "
                         f"{limits.memory} bytes per instance) and it aborted ({err})")


class Exports(Mapping[str, Any]):
    """The instance's exports by name. Functions come back as callables that raise our errors."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance

    @functools.cached_property
    def _raw(self) -> Mapping[str, Any]:
        # Enumerated on first use only: a command run looks up `_start` alone (see Instance.export).
        return self._instance.raw.exports(self._instance.store)

    @functools.cached_property
    def _names(self) -> list[str]:
        # Host-only exports of unexported memories (see _expose) are not the guest's exports.
        return [n for n in self._raw if not n.startswith(HIDDEN_PREFIX)]

    def __getitem__(self, name: str) -> Any:
        item = None if name.startswith(HIDDEN_PREFIX) else self._instance.export(name)
        if item is None:
            raise KeyError(name)
        if isinstance(item, wasmtime.Func):
            return self._instance.wrap(item)
        if isinstance(item, wasmtime.Memory):
            return GuestMemory(self._instance.store, item)
        return item

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no export named {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class Instance:
    """A core module instantiated in its own store, with the `Limits` it was given.

    Use as a context manager, or call `close()`, to free the store early.
    """

    def __init__(self, store: wasmtime.Store, raw: wasmtime.Instance, limits: Limits,
                 captures: dict[str, Capture] | None = None, *, memory_cap: int | None = None) -> None:
        self.store = store
        self.raw = raw
        self.limits = limits
        self.captures = captures or {}
        self.memory_cap = memory_cap  # bytes each memory may hold (its share of limits.memory)

    @property
    def exports(self) -> Exports:
        """The exports by name. A new view each time: an Instance holding its Exports (which hold the
        Instance) would be a reference cycle keeping the store alive until the garbage collector runs."""
        return Exports(self)

    @property
    def memory(self) -> GuestMemory:
        """The exported memory named `memory` (the convention of every toolchain)."""
        mem = self.exports.get("memory")
        if not isinstance(mem, GuestMemory):
            raise KeyError("this instance exports no memory named 'memory'")
        return mem

    def memory_sizes(self) -> list[int]:
        return [int(x.data_len(self.store)) for x in self._raw_exports().values()
                if isinstance(x, wasmtime.Memory)]

    def export(self, name: str) -> Any:
        """One raw wasmtime export by name, or None, without enumerating all exports (the hot path)."""
        raw = name.encode()
        item = ffi.wasmtime_extern_t()
        found = ffi.wasmtime_instance_export_get(self.store._context(), ctypes.byref(self.raw._instance), raw,
                                                 len(raw), ctypes.byref(item))
        return wrap_extern(item) if found else None

    def _raw_exports(self) -> Mapping[str, Any]:
        return self.raw.exports(self.store)

    def wrap(self, func: wasmtime.Func) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            return self.call(func, *args)
        return call

    def call(self, func: wasmtime.Func | str, *args: Any) -> Any:
        """Call an export (by name or Func); wasmtime errors become wasmhive errors."""
        f = self._raw_exports()[func] if isinstance(func, str) else func
        try:
            return f(self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            raise guest_error(e, self.limits, self.memory_sizes(), self.memory_cap) from None

    def stdout(self) -> bytes:
        cap = self.captures.get("stdout")
        return cap.getvalue() if cap else b""

    def stderr(self) -> bytes:
        cap = self.captures.get("stderr")
        return cap.getvalue() if cap else b""

    def close(self) -> None:
        self.raw = None  # type: ignore[assignment]
        self.store = None  # type: ignore[assignment]

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
