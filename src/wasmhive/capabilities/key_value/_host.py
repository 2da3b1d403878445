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

from wasmtime.component import Record, ResourceType, Variant

from ...appconfig import AppConfig
from ...component._restypes import allocate
from ...wasi._calls import start_call
from .._factor import StateOf
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

        Host functions use the component layer's host-call path (`component._hostcall`): resources travel
        as integer reps, and every backend failure becomes the interface's `other` error.
        """
        from ...component._hostcall import define_func, define_resource

        hr = {rt: ResourceType.host(rt) for rt in (RT_SPIN2, RT_SPIN3, RT_BUCKET, RT_CAS)}

        def inst() -> KeyValueInstance:
            state: KeyValueInstance = state_of().states[self.name]
            return state

        def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
            # Backend failures become `other(msg)`, never a Python exception inside wasmtime.
            def wrapper(*args: Any) -> Any:
                try:
                    return fn(*args)
                except KeyValueError as e:
                    log.warning("%s", e)
                    return Variant("other", str(e))
                except Exception as e:
                    log.exception("key-value host call failed")
                    return Variant("other", f"internal error: {e}")
            return wrapper

        def observed(op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            # observability hook (traces, metrics): one None check unless `up --traces`/`--metrics`
            def wrapper(*args: Any) -> Any:
                span = start_call("key_value", op)
                if span is None:
                    return fn(*args)
                result = fn(*args)
                span.end(result.tag if isinstance(result, Variant) else "ok")
                return result
            return wrapper

        def dtor(rep: int) -> None:
            with contextlib.suppress(Exception):  # the request may already be gone
                inst().handles.pop(rep, None)

        def handle(rep: int) -> KeyValueBackend:
            backend = inst().handles.get(rep)
            if backend is None:
                raise KeyValueError("unknown store handle")
            return backend

        def make_open(rt: int) -> Callable[..., Any]:
            def open_(label: str) -> Any:
                got = inst().open(label)
                if got == "store-table-full" and rt == RT_BUCKET:  # wasi:keyvalue has no such case
                    return Variant("other", f"more than {MAX_HANDLES} open buckets")
                if isinstance(got, str):
                    return Variant(got)
                return got
            return open_

        def get(h: int, key: str) -> Any:
            return handle(h).get(key)

        def set_(h: int, key: str, value: bytes) -> Any:
            handle(h).set(key, bytes(value))
            return None

        def delete(h: int, key: str) -> Any:
            handle(h).delete(key)
            return None

        def exists(h: int, key: str) -> Any:
            return handle(h).exists(key)

        def get_keys(h: int) -> Any:
            return handle(h).keys()

        def list_keys(h: int, cursor: str | None) -> Any:
            r = Record()  # a record result must be a Record: its class is what selects the `ok` case
            r.keys = handle(h).keys()  # type: ignore[attr-defined]
            r.cursor = None  # type: ignore[attr-defined]
            return r

        def define(li: Any, name: str, fn: Callable[..., Any]) -> None:
            define_func(li, name, observed(name.rpartition(".")[2].removeprefix("[static]"), fn), host_resources=hr)

        for iface, rt in zip(SPIN_INTERFACES, (RT_SPIN2, RT_SPIN3), strict=True):
            with root.add_instance(iface) as li:
                define_resource(li, "store", rt, dtor)
                define(li, "[static]store.open", guarded(make_open(rt)))
                define(li, "[method]store.get", guarded(get))
                define(li, "[method]store.set", guarded(set_))
                define(li, "[method]store.delete", guarded(delete))
                define(li, "[method]store.exists", guarded(exists))
                define(li, "[method]store.get-keys", guarded(get_keys))

        with root.add_instance(WASI_STORE) as li:
            define_resource(li, "bucket", RT_BUCKET, dtor)
            define(li, "open", guarded(make_open(RT_BUCKET)))
            define(li, "[method]bucket.get", guarded(get))
            define(li, "[method]bucket.set", guarded(set_))
            define(li, "[method]bucket.delete", guarded(delete))
            define(li, "[method]bucket.exists", guarded(exists))
            define(li, "[method]bucket.list-keys", guarded(list_keys))

        def cas_dtor(rep: int) -> None:
            with contextlib.suppress(Exception):
                inst().cas.pop(rep, None)

        def cas_new(bucket: int, key: str) -> Any:
            state = inst()
            backend = handle(bucket)
            rep = next(state.reps)
            state.cas[rep] = (backend, key, backend.get(key))
            return rep

        def cas_current(cas: int) -> Any:
            entry = inst().cas.get(cas)
            if entry is None:
                raise KeyValueError("unknown cas handle")
            return entry[2]

        def increment(bucket: int, key: str, delta: int) -> Any:
            return handle(bucket).increment(key, delta)

        def swap(cas: int, value: bytes) -> Any:
            # cas-error's cases lower by Python class: a Variant is `store-error(error)`, an int rep is
            # `cas-failed` (a fresh cas holding the value now current, so the guest can retry).
            state = inst()
            entry = state.cas.pop(cas, None)
            if entry is None:
                return Variant("other", "unknown cas handle")
            backend, key, expected = entry
            try:
                if backend.compare_and_swap(key, expected, bytes(value)):
                    return None
                new = next(state.reps)
                state.cas[new] = (backend, key, backend.get(key))
            except KeyValueError as e:
                return Variant("other", str(e))
            return new

        with root.add_instance(WASI_ATOMICS) as li:
            define_resource(li, "cas", RT_CAS, cas_dtor)
            define(li, "[static]cas.new", guarded(cas_new))
            define(li, "[method]cas.current", guarded(cas_current))
            define(li, "increment", guarded(increment))
            define(li, "swap", swap)

        def get_many(bucket: int, keys: list[str]) -> Any:
            values = handle(bucket).get_many(list(keys))
            return [(k, v) for k, v in zip(keys, values, strict=True)]

        def set_many(bucket: int, items: list[tuple[str, bytes]]) -> Any:
            handle(bucket).set_many([(k, bytes(v)) for k, v in items])
            return None

        def delete_many(bucket: int, keys: list[str]) -> Any:
            handle(bucket).delete_many(list(keys))
            return None

        with root.add_instance(WASI_BATCH) as li:
            define(li, "get-many", guarded(get_many))
            define(li, "set-many", guarded(set_many))
            define(li, "delete-many", guarded(delete_many))
