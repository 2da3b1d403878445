"""One canister's live instance and its committed state: shadow heap, stable memory, globals, hashes.

A message runs on the live instance. Afterwards `commit()` copies only the pages the instrumented
module marked dirty into the shadow image (and rehashes them), or `rollback()` copies those pages back
from the shadow and reloads the globals: both cost O(pages touched), not O(memory).
"""

from __future__ import annotations

import ctypes
import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import wasmtime

from ..errors import InvalidModule
from ._candid_text import Service
from ._context import MessageContext
from ._fastcall import call_raw, signature
from ._ic0 import define_ic0
from ._principal import Principal
from ._wasm import (
    GLOBALS_OFFSET,
    LOAD_EXPORT,
    MAP_EXPORT,
    MAX_MEMORY,
    MEM_EXPORT,
    PAGE,
    SAVE_EXPORT,
    START_EXPORT,
    TABLE_EXPORT,
    ModuleInfo,
)

__all__ = ["Canister"]

WASM_PAGE = 65536
CHUNK = 256  # pages per hash chunk (1 MiB of heap)
_HOST_FUEL = 1 << 40
_ZERO_PAGE_HASH = hashlib.blake2b(bytes(PAGE), digest_size=16).digest()


class Canister:
    """A deployed canister: module, live instance, committed state and metadata."""

    def __init__(self, vm: Any, cid: Principal, name: str, wasm: bytes, instrumented: bytes, info: ModuleInfo,
                 module: wasmtime.Module, service: Service | None, controllers: list[bytes], cycles: int) -> None:
        self.vm = vm
        self.id = cid
        self.name = name
        self.wasm = wasm
        self.module_hash = hashlib.sha256(wasm).hexdigest()
        self.instrumented = instrumented
        self.info = info
        self.module = module
        self.service = service
        self.controllers = controllers
        self.cycles = cycles
        self.timer = 0
        self.outstanding_calls = 0  # calls made whose response has not run yet (0 between roots)
        self.version = 0
        self.certified = b""
        self.stable = bytearray()
        self.ctx: MessageContext = MessageContext("none")
        self._stable_undo: list[tuple[int, bytes]] = []
        self._stable_size0 = 0
        self._stable_dirty: set[int] = set()
        self.dirty_heap: set[int] = set()  # pages changed since the last checkpoint
        self.dirty_stable: set[int] = set()
        self.shadow = np.zeros(0, dtype=np.uint8)
        self.page_hash = np.zeros((0, 16), dtype=np.uint8)
        self.chunk_hash: list[bytes] = []
        self.stable_hash: dict[int, bytes] = {}
        self.stable_chunks: list[bytes] = []
        self.globals = b""
        self._instantiate()

    # -- instance ---------------------------------------------------------------------------------
    def _instantiate(self) -> None:
        self.keep: list[Any] = []  # ctypes callbacks of the host functions: alive as long as the instance
        self.store = self.vm.runtime.new_store(self.vm.store_limits)
        linker = wasmtime.Linker(self.vm.runtime.engine)
        define_ic0(linker, self.module, self)
        self.instance = linker.instantiate(self.store, self.module)
        ex = self.instance.exports(self.store)
        self.exports: dict[str, Any] = dict(ex)
        self.mem: wasmtime.Memory | None = self.exports.get(MEM_EXPORT)
        self.map: wasmtime.Memory = self.exports[MAP_EXPORT]
        self._save: wasmtime.Func = self.exports[SAVE_EXPORT]
        self._load: wasmtime.Func = self.exports[LOAD_EXPORT]
        for name, item in self.exports.items():
            if name.startswith(("canister_", "__wasmhive_save", "__wasmhive_load", "__wasmhive_start")) and (
                    not isinstance(item, wasmtime.Func) or signature(item.type(self.store)) != ((), ())):
                raise InvalidModule(f"canister export {name!r} must be a function of type [] -> []")
        self._map_addr = ctypes.addressof(self.map.data_ptr(self.store).contents)
        self._map_np = np.ctypeslib.as_array((ctypes.c_uint8 * (MAX_MEMORY // PAGE + PAGE)).from_address(self._map_addr))
        # The instrumented module exports the (otherwise private) table: callbacks are table indices.
        self._table: wasmtime.Table | None = self.exports.get(TABLE_EXPORT)

    @property
    def methods(self) -> list[str]:
        """User-facing method names (Motoko's internal `__motoko_*` / `@motoko_*` ones hidden)."""
        out = []
        for name in self.info.exports:
            for prefix in ("canister_query ", "canister_update ", "canister_composite_query "):
                if name.startswith(prefix):
                    m = name[len(prefix):]
                    if not m.startswith(("__motoko", "@motoko", "__get_candid", "__wasmhive")):
                        out.append(m)
        return sorted(out)

    def export_kind(self, method: str) -> str | None:
        for kind in ("query", "update", "composite_query"):
            if f"canister_{kind} {method}" in self.exports:
                return kind
        return None

    # -- memory access (used by the System API) -----------------------------------------------------
    def mem_base(self) -> tuple[int, int]:
        if self.mem is None:
            return 0, 0
        return ctypes.addressof(self.mem.data_ptr(self.store).contents), self.mem.data_len(self.store)

    def read(self, ptr: int, size: int) -> bytes:
        base, n = self.mem_base()
        if ptr < 0 or size < 0 or ptr + size > n:
            raise self.trap(f"System API read out of bounds: [{ptr}, {ptr + size}) of {n}")
        return ctypes.string_at(base + ptr, size) if size else b""

    def write(self, ptr: int, data: bytes) -> None:
        base, n = self.mem_base()
        size = len(data)
        if ptr < 0 or ptr + size > n:
            raise self.trap(f"System API write out of bounds: [{ptr}, {ptr + size}) of {n}")
        if size:
            ctypes.memmove(base + ptr, data, size)
            lo, hi = ptr // PAGE, (ptr + size - 1) // PAGE
            ctypes.memset(self._map_addr + lo, 1, hi - lo + 1)

    def trap(self, message: str) -> Exception:
        """Record why the message traps; the returned exception unwinds the guest."""
        if self.ctx.trap is None:
            self.ctx.trap = message
        return RuntimeError(message)

    # -- stable memory ----------------------------------------------------------------------------
    def stable_write(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if offset < 0 or end > len(self.stable):
            raise self.trap(f"stable memory write out of bounds: [{offset}, {end}) of {len(self.stable)}")
        if not data:
            return
        self._stable_undo.append((offset, bytes(self.stable[offset:end])))
        self.stable[offset:end] = data
        self._stable_dirty.update(range(offset // PAGE, (end - 1) // PAGE + 1))

    def stable_grow(self, pages: int, limit_pages: int) -> int:
        old = len(self.stable) // WASM_PAGE
        if pages < 0 or old + pages > limit_pages:
            return -1
        self.stable.extend(bytes(pages * WASM_PAGE))
        return old

    # -- running ------------------------------------------------------------------------------------
    def run(self, func: wasmtime.Func | None, args: tuple[int, ...], ctx: MessageContext,
            kinds: tuple[bool, ...] = (), fresh: bool = True) -> int:
        """Run `func` for one message with fuel `ctx.fuel_limit`; returns instructions used (trap in ctx).

        `func` is an export checked at instantiation ([] -> []) or a callback checked by `callback()`.
        `fresh=False` continues an uncommitted run (a composite query's later messages).
        """
        self.ctx = ctx
        if fresh:
            self._stable_size0 = len(self.stable)
        store = self.store
        store.set_fuel(ctx.fuel_limit)
        try:
            if func is not None:
                call_raw(store, func, args, kinds)
        except Exception as e:  # a wasm trap, or a host function that raised to trap
            if ctx.trap is None:
                ctx.trap = _trap_text(e, ctx.fuel_limit, store)
        used: int = ctx.fuel_limit - store.get_fuel()
        store.set_fuel(_HOST_FUEL)  # the VM's own calls (globals save/load) are not the canister's
        return used

    def pages(self) -> int:
        return (self.mem.data_len(self.store) if self.mem is not None else 0) // PAGE

    def commit(self) -> None:
        """Make the live state the committed state (only the touched pages are copied and hashed)."""
        n = self.pages()
        old_n = len(self.shadow) // PAGE
        mp = self._map_np
        dirty = np.flatnonzero(mp[:n])
        if n != old_n:
            # From nothing, np.zeros maps fresh zero pages lazily: a large empty heap costs no memory.
            self.shadow = np.zeros(n * PAGE, dtype=np.uint8) if old_n == 0 else \
                np.concatenate([self.shadow, np.zeros((n - old_n) * PAGE, dtype=np.uint8)])
            self.page_hash = np.concatenate([self.page_hash, np.tile(np.frombuffer(_ZERO_PAGE_HASH, np.uint8),
                                                                     (n - old_n, 1))])
            self.chunk_hash.extend([b""] * ((n + CHUNK - 1) // CHUNK - len(self.chunk_hash)))
            new_chunks = range(old_n // CHUNK, (n + CHUNK - 1) // CHUNK)
        else:
            new_chunks = range(0)
        if len(dirty):
            base, _ = self.mem_base()
            live = np.ctypeslib.as_array((ctypes.c_uint8 * (n * PAGE)).from_address(base)).reshape(n, PAGE)
            sh = self.shadow.reshape(n, PAGE)
            sh[dirty] = live[dirty]
            mp[dirty] = 0
            ph = self.page_hash
            for i in dirty.tolist():
                ph[i] = np.frombuffer(hashlib.blake2b(sh[i].data, digest_size=16).digest(), np.uint8)
            dl = dirty.tolist()
            self.dirty_heap.update(dl)
            chunks = set(i // CHUNK for i in dl)
        else:
            chunks = set()
        chunks.update(new_chunks)
        for c in chunks:
            self.chunk_hash[c] = hashlib.blake2b(self.page_hash[c * CHUNK:(c + 1) * CHUNK].data,
                                                 digest_size=16).digest()
        call_raw(self.store, self._save)
        count = len(self.info.mutable_globals)
        self.globals = ctypes.string_at(self._map_addr + GLOBALS_OFFSET, 8 * count)
        if self._stable_dirty or len(self.stable) != self._stable_size0:
            self._rehash_stable(self._stable_dirty, self._stable_size0)
        self.dirty_stable.update(self._stable_dirty)
        self._stable_dirty.clear()
        self._stable_undo.clear()

    def _rehash_stable(self, pages: set[int], old_size: int) -> None:
        """Update the stable memory page and chunk hashes after `pages` changed (and growth)."""
        st = self.stable
        for p in pages:
            self.stable_hash[p] = hashlib.blake2b(st[p * PAGE:(p + 1) * PAGE], digest_size=16).digest()
        n = len(st) // PAGE
        chunks = {p // CHUNK for p in pages}
        chunks.update(range(min(old_size // PAGE, n) // CHUNK, (n + CHUNK - 1) // CHUNK))
        del self.stable_chunks[(n + CHUNK - 1) // CHUNK:]
        while len(self.stable_chunks) < (n + CHUNK - 1) // CHUNK:
            self.stable_chunks.append(b"")
        get = self.stable_hash.get
        for c in chunks:
            if c * CHUNK < n:
                self.stable_chunks[c] = hashlib.blake2b(b"".join(
                    get(p, _ZERO_PAGE_HASH) for p in range(c * CHUNK, min(n, (c + 1) * CHUNK))),
                    digest_size=16).digest()

    def rollback(self) -> None:
        """Throw away everything the last message changed."""
        n = self.pages()
        old_n = len(self.shadow) // PAGE
        for off, old in reversed(self._stable_undo):
            self.stable[off:off + len(old)] = old
        del self.stable[self._stable_size0:]
        self._stable_undo.clear()
        self._stable_dirty.clear()
        if n != old_n:  # the heap grew: memories cannot shrink, so start over from the shadow
            self.restore_instance()
            return
        mp = self._map_np
        dirty = np.flatnonzero(mp[:n])
        if len(dirty):
            base, _ = self.mem_base()
            live = np.ctypeslib.as_array((ctypes.c_uint8 * (n * PAGE)).from_address(base)).reshape(n, PAGE)
            live[dirty] = self.shadow.reshape(n, PAGE)[dirty]
            mp[dirty] = 0
        call_raw(self.store, self._load)

    def restore_instance(self) -> None:
        """A fresh instance holding exactly the committed heap and globals (start function not run)."""
        self._instantiate()
        self.load_heap(self.shadow, self.globals)

    def load_heap(self, heap: np.ndarray, globals_: bytes | None) -> None:
        """Overwrite the live instance's heap and globals (used by restore and upgrades)."""
        if self.mem is not None:
            want = len(heap) // WASM_PAGE
            have = self.mem.size(self.store)
            if want > have:
                self.mem.grow(self.store, want - have)
            base, n = self.mem_base()
            ctypes.memmove(base, heap.ctypes.data, len(heap))
            if n > len(heap):
                ctypes.memset(base + len(heap), 0, n - len(heap))
        if globals_ is not None:
            ctypes.memmove(self._map_addr + GLOBALS_OFFSET, globals_, len(globals_))
            call_raw(self.store, self._load)
        self._map_np[:] = 0

    def run_start(self, ctx: MessageContext) -> None:
        start = self.exports.get(START_EXPORT)
        if start is not None:
            self.run(start, (), ctx)

    def reset_tracking(self) -> None:
        """After (re)initialisation: take the whole live state as committed."""
        n = self.pages()
        self.shadow = np.zeros(0, dtype=np.uint8)
        self.page_hash = np.zeros((0, 16), dtype=np.uint8)
        self.chunk_hash = []
        # Only pages holding data need copying and hashing: a zero page matches the zero shadow and
        # its known hash (a module declaring a large, empty memory deploys in time of its data).
        self._map_np[:n] = 0
        if n:
            base, _ = self.mem_base()
            live = np.ctypeslib.as_array((ctypes.c_uint8 * (n * PAGE)).from_address(base)).reshape(n, PAGE)
            self._map_np[np.flatnonzero(live.any(axis=1))] = 1
        self.commit()
        self.stable_hash = {}
        self.stable_chunks = []
        self._rehash_stable(set(range(len(self.stable) // PAGE)), 0)

    # -- hashing ----------------------------------------------------------------------------------
    def state_hash(self) -> bytes:
        """A digest of everything the canister's future behaviour depends on."""
        h = hashlib.blake2b(digest_size=32)
        h.update(self.module_hash.encode())
        h.update(len(self.shadow).to_bytes(8, "little"))
        for c in self.chunk_hash:
            h.update(c)
        h.update(self.globals)
        h.update(len(self.stable).to_bytes(8, "little"))
        for c in self.stable_chunks:
            h.update(c)
        h.update(f"{self.cycles}|{self.timer}|{self.version}".encode())
        h.update(self.certified)
        return h.digest()

    def callback(self, index: int) -> tuple[wasmtime.Func, tuple[bool, ...]]:
        """The function at `index` of the canister's table (where `call_new` callbacks point), checked
        to take one pointer-sized env argument; returns (func, kinds for `run`)."""
        table = self._table
        if table is None:
            raise self.trap("callback requested but the canister exports no table")
        try:
            f = table.get(self.store, index)
        except (wasmtime.WasmtimeError, IndexError, OverflowError):
            f = None
        if not isinstance(f, wasmtime.Func):
            raise self.trap(f"callback index {index} is not a function")
        params, results = signature(f.type(self.store))
        if len(params) != 1 or params[0] not in ("i32", "i64") or results:
            raise self.trap(f"callback {index} has type {params} -> {results}, expected one i32/i64 argument")
        return f, (params[0] == "i64",)


def _trap_text(e: Exception, limit: int, store: wasmtime.Store) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    try:
        if store.get_fuel() == 0:
            return f"instruction limit exceeded ({limit} instructions)"
    except Exception:  # pragma: no cover
        pass
    for line in str(e).splitlines():
        if "wasm trap:" in line:
            return line.split("wasm trap:", 1)[1].strip()
    return text


Callback = Callable[..., Any]
