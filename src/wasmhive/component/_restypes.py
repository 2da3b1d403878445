"""Host resource types: one id space for every resource the host implements.

wasmtime tells host resource types apart only by the `u32` given to `ResourceType.host(id)`. The WASI
layer, every capability and the typed host imports of `Component` all define host resources, so the
ids come from here: `allocate(name)` hands out a fresh id (stable per name), `register(id)` records an id
a caller chose itself (kept for code written against the old fixed ids). `host_id(rt)` answers which
host id a resource type seen in a function's type is, or None for a guest-defined resource; the
converters use it to pass host resources as their integer `rep`.
"""

from __future__ import annotations

import threading

import wasmtime.component as wc

__all__ = ["allocate", "host_id", "register"]

# Allocated ids start high so they never meet the small fixed ids older code passes to `register`.
_FIRST = 0x4000_0000
_by_name: dict[str, int] = {}
_types: dict[int, wc.ResourceType] = {}
_lock = threading.Lock()


def register(type_id: int) -> wc.ResourceType:
    """Record `type_id` as a host resource type and return its `ResourceType`."""
    with _lock:
        rt = _types.get(type_id)
        if rt is None:
            rt = _types[type_id] = wc.ResourceType.host(type_id)
        return rt


def allocate(name: str) -> int:
    """A host resource type id for `name` (the same id for the same name, a new one otherwise)."""
    with _lock:
        rid = _by_name.get(name)
        if rid is None:
            rid = _by_name[name] = _FIRST + len(_by_name)
            _types[rid] = wc.ResourceType.host(rid)
        return rid


def host_id(rt: wc.ResourceType) -> int | None:
    """The host id of resource type `rt`, or None when it is not a registered host resource."""
    with _lock:
        items = list(_types.items())
    for rid, known in items:
        if known == rt:
            return rid
    return None
