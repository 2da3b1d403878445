"""The key-value capability: Spin's key-value interfaces and `wasi:keyvalue` draft2, over one seam.

Deny by default, checked twice: the stores a component lists in `key_value_stores` are checked at
start-up (`open_stores`) and again on every `open` (`access-denied` for any other label).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...appconfig import AppConfig
from ...component._hostcall import define_func, define_resource, define_table, wit
from ...component._restypes import allocate
from ...component._values import ResultError, Variant
from ...wasi._calls import observed, op_name
from .._factor import InstanceState, StateOf
from ._backend import KeyValueBackend, KeyValueError
from ._config import KeyValueApp, open_stores

__all__ = ["INTERFACES", "KeyValueFactor", "KeyValueInstance"]

log = logging.getLogger("wasmhive.capabilities.key_value")

SPIN_INTERFACES = ("fermyon:spin/key-value@2.0.0", "spin:key-value/key-value@3.0.0")
WASI_STORE = "wasi:keyvalue/store@0.2.0-draft2"
WASI_ATOMICS = "wasi:keyvalue/atomics@0.2.0-draft2"
WASI_BATCH = "wasi:keyvalue/batch@0.2.0-draft2"
INTERFACES = (*SPIN_INTERFACES, WASI_STORE, WASI_ATOMICS, WASI_BATCH)

# Host resource type ids, from the component layer's one id space (unique among all host resources).
RT_SPIN2, RT_SPIN3, RT_BUCKET, RT_CAS = (allocate(name) for name in (
    "fermyon:spin/key-value#store", "spin:key-value/key-value#store", "wasi:keyvalue/store#bucket",
    "wasi:keyvalue/atomics#cas"))
MAX_HANDLES = 256


@dataclass
class KeyValueInstance:
    """One instance's view: the backends it may open and its open handles (rep -> backend)."""

    allowed: dict[str, KeyValueBackend]
    handles: dict[int, KeyValueBackend] = field(default_factory=dict)
    cas: dict[int, tuple[KeyValueBackend, str, bytes | None]] = field(default_factory=dict)
    reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def open(self, label: str) -> int | str:
        """A new handle's rep, or the name of the error case."""
        backend = self.allowed.get(label)
        if backend is None:
            return "access-denied"
        if len(self.handles) >= MAX_HANDLES:
            return "store-table-full"
        rep = next(self.reps)
        self.handles[rep] = backend
        return rep

    def close(self) -> None:
        self.handles.clear()
        self.cas.clear()


class KeyValueFactor:
    """Key-value stores for guests; see the module docstring."""

    name = "key_value"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> KeyValueApp:
        return open_stores(app)

    def prepare(self, app_state: KeyValueApp, component_id: str) -> KeyValueInstance:
        labels = app_state.allowed.get(component_id, frozenset())
        return KeyValueInstance({label: app_state.stores[label] for label in labels})

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define Spin's and WASI's key-value interfaces on a component linker's root instance.

        One small class per resource (`_SpinStore`, `_WasiBucket`, `_WasiAtomics`, `_WasiBatch`) over the
        component layer's host-call path in the typed convention: resources travel as integer reps,
        every function returns its `ok` value and raises `ResultError` for `err`, and every backend
        failure becomes the interface's `other` error (`store-error(other)` for `swap`'s `cas-error`).
        """
        host = _KeyValueHost(self.name, state_of)

        def define(li: Any, name: str, fn: Callable[..., Any]) -> None:
            define_func(li, name, _observed(name, fn))

        for iface, rt in zip(SPIN_INTERFACES, (RT_SPIN2, RT_SPIN3), strict=True):
            with root.add_instance(iface) as li:
                define_resource(li, "store", rt, host.drop_handle)
                define_table(li, _SpinStore(host, rt), define, resource="store")
        with root.add_instance(WASI_STORE) as li:
            define_resource(li, "bucket", RT_BUCKET, host.drop_handle)
            define_table(li, _WasiBucket(host, RT_BUCKET), define, resource="bucket")
        with root.add_instance(WASI_ATOMICS) as li:
            define_resource(li, "cas", RT_CAS, host.drop_cas)
            define_table(li, _WasiAtomics(host), define)
        with root.add_instance(WASI_BATCH) as li:
            define_table(li, _WasiBatch(host), define)


def _same(error: Variant) -> Variant:
    return error


def _cas_error(error: Variant) -> Variant:
    """`swap` answers `cas-error`: a store's `error` is its `store-error` case."""
    return Variant("store-error", error)


def _observed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    # Backend failures become `err(other(msg))` (`store-error(other(msg))` for `swap`), never a Python
    # exception inside wasmtime; a function's own `err` is already of its error type.
    wrap = _cas_error if name == "swap" else _same

    def other(e: KeyValueError) -> Variant:
        log.warning("%s", e)
        return wrap(Variant("other", str(e)))

    def internal(e: Exception) -> Variant:
        log.exception("key-value host call failed")
        return wrap(Variant("other", f"internal error: {e}"))
    return observed("key_value", op_name(name), fn, {KeyValueError: other, Exception: internal})


class _KeyValueHost:
    """What every key-value table shares: the calling instance's state and its handles."""

    def __init__(self, name: str, state_of: StateOf) -> None:
        self.inst = InstanceState[KeyValueInstance](name, state_of)

    def handle(self, rep: int) -> KeyValueBackend:
        backend = self.inst().handles.get(rep)
        if backend is None:
            raise KeyValueError("unknown store handle")
        return backend

    def drop_handle(self, rep: int) -> None:
        with contextlib.suppress(Exception):  # the request may already be gone
            self.inst().handles.pop(rep, None)

    def drop_cas(self, rep: int) -> None:
        with contextlib.suppress(Exception):
            self.inst().cas.pop(rep, None)


class _Store:
    """The functions Spin's `store` and wasi:keyvalue's `bucket` share (`{r}`: the resource's name)."""

    def __init__(self, host: _KeyValueHost, rt: int) -> None:
        self.host, self.rt = host, rt

    def _open(self, label: str) -> int:
        got = self.host.inst().open(label)
        if got == "store-table-full" and self.rt == RT_BUCKET:  # wasi:keyvalue has no such case
            raise ResultError(Variant("other", f"more than {MAX_HANDLES} open buckets"))
        if isinstance(got, str):
            raise ResultError(Variant(got))
        return got

    @wit("[method]{r}.get")
    def get(self, h: int, key: str) -> Any:
        return self.host.handle(h).get(key)

    @wit("[method]{r}.set")
    def set(self, h: int, key: str, value: bytes) -> Any:
        self.host.handle(h).set(key, bytes(value))
        return None

    @wit("[method]{r}.delete")
    def delete(self, h: int, key: str) -> Any:
        self.host.handle(h).delete(key)
        return None

    @wit("[method]{r}.exists")
    def exists(self, h: int, key: str) -> Any:
        return self.host.handle(h).exists(key)


class _SpinStore(_Store):
    """`fermyon:spin/key-value` and `spin:key-value/key-value`: the `store` resource."""

    @wit("[static]store.open")
    def open(self, label: str) -> Any:
        return self._open(label)

    @wit("[method]store.get-keys")
    def get_keys(self, h: int) -> Any:
        return self.host.handle(h).keys()


class _WasiBucket(_Store):
    """`wasi:keyvalue/store`: `open` and the `bucket` resource."""

    @wit("open")
    def open(self, label: str) -> Any:
        return self._open(label)

    @wit("[method]bucket.list-keys")
    def list_keys(self, h: int, cursor: str | None) -> Any:
        return {"keys": self.host.handle(h).keys(), "cursor": None}  # one page: every key


class _WasiAtomics:
    """`wasi:keyvalue/atomics`: the `cas` resource, `increment` and `swap`."""

    def __init__(self, host: _KeyValueHost) -> None:
        self.host = host

    @wit("[static]cas.new")
    def cas_new(self, bucket: int, key: str) -> Any:
        state = self.host.inst()
        backend = self.host.handle(bucket)
        rep = next(state.reps)
        state.cas[rep] = (backend, key, backend.get(key))
        return rep

    @wit("[method]cas.current")
    def cas_current(self, cas: int) -> Any:
        entry = self.host.inst().cas.get(cas)
        if entry is None:
            raise KeyValueError("unknown cas handle")
        return entry[2]

    @wit("increment")
    def increment(self, bucket: int, key: str, delta: int) -> Any:
        return self.host.handle(bucket).increment(key, delta)

    @wit("swap")
    def swap(self, cas: int, value: bytes) -> None:
        # A lost race is `cas-failed` with a fresh cas holding the value now current, so the guest can
        # retry; a store failure is `store-error(other)` (by `_observed`).
        state = self.host.inst()
        entry = state.cas.pop(cas, None)
        if entry is None:
            raise KeyValueError("unknown cas handle")
        backend, key, expected = entry
        if backend.compare_and_swap(key, expected, bytes(value)):
            return
        new = next(state.reps)
        state.cas[new] = (backend, key, backend.get(key))
        raise ResultError(Variant("cas-failed", new))


class _WasiBatch:
    """`wasi:keyvalue/batch`."""

    def __init__(self, host: _KeyValueHost) -> None:
        self.host = host

    @wit("get-many")
    def get_many(self, bucket: int, keys: list[str]) -> Any:
        values = self.host.handle(bucket).get_many(list(keys))
        return [(k, v) for k, v in zip(keys, values, strict=True)]

    @wit("set-many")
    def set_many(self, bucket: int, items: list[tuple[str, bytes]]) -> Any:
        self.host.handle(bucket).set_many([(k, bytes(v)) for k, v in items])
        return None

    @wit("delete-many")
    def delete_many(self, bucket: int, keys: list[str]) -> Any:
        self.host.handle(bucket).delete_many(list(keys))
        return None
