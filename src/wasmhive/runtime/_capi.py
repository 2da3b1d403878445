"""The one door to wasmtime-py's private C bindings (`wasmtime._ffi`, which re-exports `_bindings`).

wasmtime-py's public API cannot set up the pooling allocator, hand bytes to WASI stdin, look up an
export by raw name, call functions unchecked or move component values in bulk; those go to wasmtime's
C API directly. Every module that does imports the bindings (`ffi`: the C types and wasmtime-py's own
prototypes) and declares its own C prototypes (`prototype`) from here, so a wasmtime upgrade that moves
them is checked in one place.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi

__all__ = ["ffi", "prototype"]

# Short C calls that never run guest code can go through a PyDLL handle of the same library: they keep
# the GIL (releasing and re-taking it costs more than the call).
_keeping_gil = ctypes.PyDLL(ffi.dll._name)


def prototype(name: str, argtypes: list[Any], restype: Any = None, *, keep_gil: bool = False) -> Any:
    """Our own prototype of C function `name`: a fresh function object from the library (wasmtime-py's
    shared one keeps its argument types), taking `argtypes` and returning `restype`. `keep_gil` for
    short calls that never enter guest code."""
    fn = (_keeping_gil if keep_gil else ffi.dll)[name]
    fn.argtypes = argtypes
    fn.restype = restype
    return fn
