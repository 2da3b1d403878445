"""Resources implemented by the host: a Python class serving a resource a component imports.

`imports={"test:kitchen/kv": {"Bucket": Bucket, "open": open_bucket}}`: the constructor is the class,
methods and static functions are looked up on it. Each Python object handed to the guest gets a `rep`
in a table per store; borrowed arguments come back as the object itself, owned ones are removed
from the table (the host owns them again). When the guest drops its handle the object's `close()`
(if any) runs; objects still in a store's table when its instance closes are closed then, because
wasmtime runs no destructor for handles alive when a store goes away.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
from typing import Any

import wasmtime.component as wc
from wasmtime import StoreContext

from ..runtime._capi import ffi
from ._convert import BadValue
from ._restypes import allocate

__all__ = ["HostCall", "HostResource", "store_addr"]

log = logging.getLogger("wasmhive.component")
_INSTANCES = itertools.count(1)


def store_addr(context: Any) -> int:
    """A stable key for a store from its `wasmtime_context_t` pointer (or address)."""
    return context if isinstance(context, int) else ctypes.addressof(context.contents)


class HostResource:
    """One host-implemented resource type: its wasmtime type id and the live objects per store."""

    def __init__(self, name: str) -> None:
        self.name = name
        # A type of its own in the one host id space (two components' `bucket`s are different types).
        self.type_id = allocate(f"component-import:{name}#{next(_INSTANCES)}")
        self.tables: dict[int, dict[int, Any]] = {}
        self._reps = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, addr: int, obj: Any) -> int:
        with self._lock:
            rep = next(self._reps) & 0xFFFFFFFF
            self.tables.setdefault(addr, {})[rep] = obj
        return rep

    def get(self, addr: int, rep: int, take: bool) -> Any:
        table = self.tables.get(addr, {})
        try:
            return table.pop(rep) if take else table[rep]
        except KeyError:
            raise BadValue(f"unknown {self.name} handle (rep {rep})") from None

    def dtor(self, addr: int, rep: int) -> None:
        """The destructor (`define_resource(..., with_store=True)`): the guest dropped its last handle."""
        try:
            obj = self.tables.get(addr, {}).pop(rep, None)
            _close(obj)
        except Exception:  # never into wasmtime
            log.exception("closing host resource %s failed", self.name)

    def drop_store(self, addr: int) -> None:
        for obj in self.tables.pop(addr, {}).values():
            try:
                _close(obj)
            except Exception:
                log.exception("closing host resource %s failed", self.name)


def _close(obj: Any) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        close()


class HostCall:
    """The `ctx` converters see during one host function call: the caller's store and host resources."""

    __slots__ = ("addr", "resources", "store")

    def __init__(self, context: int, resources: dict[str, HostResource]) -> None:
        self.store = StoreContext(ctypes.cast(context, ctypes.POINTER(ffi.wasmtime_context_t)))
        self.addr = context
        self.resources = resources

    def wrap_resource(self, name: str, raw: Any, owned: bool) -> Any:
        hr = self.resources.get(name)
        if hr is None:
            raw.drop(self.store)  # a borrow must be released before returning, even when refused
            raise BadValue(f"resource {name} arguments to host functions are only supported for "
                           "host-implemented resources")
        rep = raw.to_host(self.store).rep  # releases a borrow
        return hr.get(self.addr, rep, take=owned)

    def host_resource(self, name: str, obj: Any) -> Any:
        hr = self.resources.get(name)
        if hr is None:
            raise BadValue(f"expects a {name} handle, got {type(obj).__name__}")
        rep = hr.add(self.addr, obj)
        return wc.ResourceHost.own(rep, hr.type_id).to_any(self.store)

    def close(self) -> None:
        self.store._invalidate()
