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

from wasmtime.component import Record, ResourceHost, ResourceType, Variant

from ...app._model import AppConfig
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

# Host resource type ids: unique among every host resource in a linker (0x6B76 = "kv").
RT_SPIN2, RT_SPIN3, RT_BUCKET, RT_CAS = 0x6B760001, 0x6B760002, 0x6B760003, 0x6B760004
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


def _rep(store: Any, handle: Any) -> int:
    # Converting releases the borrow, which must happen before the host function returns.
    return int(handle.to_host(store).rep)


class KeyValueFactor:
    """Key-value stores for guests; see the module docstring."""

    name = "key_value"

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> KeyValueApp:
        return open_stores(app)

    def prepare(self, app_state: KeyValueApp, component_id: str) -> KeyValueInstance:
        labels = app_state.allowed.get(component_id, frozenset())
        return KeyValueInstance({label: app_state.stores[label] for label in labels})

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define Spin's and WASI's key-value interfaces on a component linker's root instance."""

        def inst(store: Any) -> KeyValueInstance:
            state: KeyValueInstance = state_of(store).states[self.name]
            return state

        def guarded(fn: Callable[..., Any], error: Callable[[str], Any]) -> Callable[..., Any]:
            # Backend failures become the interface's `other` error, never a Python exception in wasmtime.
            def wrapper(store: Any, *args: Any) -> Any:
                try:
                    return fn(store, *args)
                except KeyValueError as e:
                    log.warning("%s", e)
                    return error(str(e))
                except Exception as e:
                    log.exception("key-value host call failed")
                    return error(f"internal error: {e}")
            return wrapper

        def other(msg: str) -> Variant:
            return Variant("other", msg)

        def trap(msg: str) -> Any:
            # result<option<..>, error>: the bindings cannot lower this err case; trap with the reason.
            raise RuntimeError(msg)

        def dtor(store: Any, rep: int) -> None:
            with contextlib.suppress(Exception):  # the request may already be gone
                inst(store).handles.pop(rep, None)

        def handle(store: Any, h: Any) -> KeyValueBackend:
            backend = inst(store).handles.get(_rep(store, h))
            if backend is None:
                raise KeyValueError("unknown store handle")
            return backend

        def make_open(rt: int) -> Callable[..., Any]:
            def open_(store: Any, label: str) -> Any:
                got = inst(store).open(label)
                if got == "store-table-full" and rt == RT_BUCKET:  # wasi:keyvalue has no such case
                    return Variant("other", f"more than {MAX_HANDLES} open buckets")
                if isinstance(got, str):
                    return Variant(got)
                return ResourceHost.own(got, rt)
            return open_

        def get(store: Any, h: Any, key: str) -> Any:
            return handle(store, h).get(key)

        def set_(store: Any, h: Any, key: str, value: bytes) -> Any:
            handle(store, h).set(key, bytes(value))
            return None

        def delete(store: Any, h: Any, key: str) -> Any:
            handle(store, h).delete(key)
            return None

        def exists(store: Any, h: Any, key: str) -> Any:
            return handle(store, h).exists(key)

        def get_keys(store: Any, h: Any) -> Any:
            return handle(store, h).keys()

        def list_keys(store: Any, h: Any, cursor: str | None) -> Any:
            r = Record()
            r.keys = handle(store, h).keys()  # type: ignore[attr-defined]
            r.cursor = None  # type: ignore[attr-defined]
            return r

        for iface, rt in zip(SPIN_INTERFACES, (RT_SPIN2, RT_SPIN3), strict=True):
            with root.add_instance(iface) as li:
                li.add_resource("store", ResourceType.host(rt), dtor)
                li.add_func("[static]store.open", guarded(make_open(rt), other))
                li.add_func("[method]store.get", guarded(get, trap))
                li.add_func("[method]store.set", guarded(set_, other))
                li.add_func("[method]store.delete", guarded(delete, other))
                li.add_func("[method]store.exists", guarded(exists, other))
                li.add_func("[method]store.get-keys", guarded(get_keys, other))

        with root.add_instance(WASI_STORE) as li:
            li.add_resource("bucket", ResourceType.host(RT_BUCKET), dtor)
            li.add_func("open", guarded(make_open(RT_BUCKET), other))
            li.add_func("[method]bucket.get", guarded(get, trap))
            li.add_func("[method]bucket.set", guarded(set_, other))
            li.add_func("[method]bucket.delete", guarded(delete, other))
            li.add_func("[method]bucket.exists", guarded(exists, other))
            li.add_func("[method]bucket.list-keys", guarded(list_keys, other))

        def cas_dtor(store: Any, rep: int) -> None:
            with contextlib.suppress(Exception):
                inst(store).cas.pop(rep, None)

        def cas_new(store: Any, bucket: Any, key: str) -> Any:
            state = inst(store)
            backend = handle(store, bucket)
            rep = next(state.reps)
            state.cas[rep] = (backend, key, backend.get(key))
            return ResourceHost.own(rep, RT_CAS)

        def cas_current(store: Any, cas: Any) -> Any:
            entry = inst(store).cas.get(_rep(store, cas))
            if entry is None:
                raise KeyValueError("unknown cas handle")
            return entry[2]

        def increment(store: Any, bucket: Any, key: str, delta: int) -> Any:
            return handle(store, bucket).increment(key, delta)

        def swap(store: Any, cas: Any, value: bytes) -> Any:
            # cas-error's two cases lower by Python class: a Variant is `store-error`, a resource is
            # `cas-failed` (a fresh cas holding the value now current, so the guest can retry).
            rep = cas.to_host(store).rep
            state = inst(store)
            entry = state.cas.pop(rep, None)
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
            return ResourceHost.own(new, RT_CAS)

        with root.add_instance(WASI_ATOMICS) as li:
            li.add_resource("cas", ResourceType.host(RT_CAS), cas_dtor)
            li.add_func("[static]cas.new", guarded(cas_new, other))
            li.add_func("[method]cas.current", guarded(cas_current, trap))
            li.add_func("increment", guarded(increment, other))
            li.add_func("swap", swap)

        def get_many(store: Any, bucket: Any, keys: list[str]) -> Any:
            values = handle(store, bucket).get_many(list(keys))
            return [(k, v) for k, v in zip(keys, values, strict=True)]

        def set_many(store: Any, bucket: Any, items: list[tuple[str, bytes]]) -> Any:
            handle(store, bucket).set_many([(k, bytes(v)) for k, v in items])
            return None

        def delete_many(store: Any, bucket: Any, keys: list[str]) -> Any:
            handle(store, bucket).delete_many(list(keys))
            return None

        with root.add_instance(WASI_BATCH) as li:
            li.add_func("get-many", guarded(get_many, other))
            li.add_func("set-many", guarded(set_many, other))
            li.add_func("delete-many", guarded(delete_many, other))
