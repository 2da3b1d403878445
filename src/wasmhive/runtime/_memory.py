"""Zero-copy access to a guest's linear memory."""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime

from ..errors import GuestTrap

__all__ = ["GuestMemory"]


class GuestMemory:
    """A guest memory seen from the host without copying.

    `view()` is a writable `memoryview` over the whole memory; `numpy(dtype, offset, count)` a numpy
    array over part of it. Both alias the guest's bytes: writes are seen by the guest at once.
    They are invalidated when the guest grows its memory: take a fresh one after any call that may grow.
    """

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self._store = store
        self._memory = memory

    @property
    def raw(self) -> wasmtime.Memory:
        return self._memory

    def __len__(self) -> int:
        return int(self._memory.data_len(self._store))

    def view(self) -> memoryview:
        """A writable memoryview over all of linear memory (no copy)."""
        n = len(self)
        ptr = self._memory.data_ptr(self._store)
        array = (ctypes.c_ubyte * n).from_address(ctypes.addressof(ptr.contents)) if n else (ctypes.c_ubyte * 0)()
        return memoryview(array).cast("B")

    def numpy(self, dtype: Any = "uint8", offset: int = 0, count: int = -1) -> Any:
        """A numpy array aliasing guest memory at `offset` (needs numpy installed)."""
        import numpy as np

        dt = np.dtype(dtype)
        if count < 0:
            count = (len(self) - offset) // dt.itemsize
        self._check(offset, count * dt.itemsize)
        return np.frombuffer(self.view(), dtype=dt, count=count, offset=offset)

    def read(self, ptr: int, length: int) -> bytes:
        """Copy `length` bytes out of guest memory."""
        self._check(ptr, length)
        return bytes(self.view()[ptr:ptr + length])

    def write(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        """Copy `data` into guest memory at `ptr`."""
        n = len(data)
        self._check(ptr, n)
        if n:
            base = ctypes.addressof(self._memory.data_ptr(self._store).contents)
            ctypes.memmove(base + ptr, bytes(data) if not isinstance(data, bytes) else data, n)

    def _check(self, ptr: int, length: int) -> None:
        if ptr < 0 or length < 0 or ptr + length > len(self):
            raise GuestTrap(f"host access out of bounds: [{ptr}, {ptr + length}) of {len(self)} bytes",
                            code="memory_out_of_bounds")
