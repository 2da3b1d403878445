"""Running a component as plain core instances: `CanonComponent` (prepared once) and `Instance` (per store).

Prepared once: the plan is parsed, each core module compiled (through the runtime's cache), each
`canon lower` / `canon resource.*` turned into one ctypes callback with its converters built, each
imported function bound to its host implementation (`Host`). Per store: the core instances are made in
plan order with wasmtime's core C API (imports passed as raw externs; canon functions as unchecked host
functions), and exports are called with `wasmtime_func_call_unchecked`.

The host function callbacks find their `Instance` through a thread-local bound around instantiation and
export calls (one guest runs on one thread for its whole call). Exceptions never cross into wasmtime:
a callback turns any exception into a trap carrying its message and keeps it for `take_error()`.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import wasmtime

import wasmhive.canon._types as T

from ..errors import InvalidModule, LinkError
from ..runtime._capi import ffi, prototype
from ._abi import CanonTrap, Cx
from ._calls import ExportFunc, lowered, run_lowered
from ._handles import HandleTable
from ._parse import CanonFunc, ImportedFunc, Opts, Plan, parse

__all__ = ["CanonComponent", "ExportFunc", "Host", "Instance", "take_error"]

_VAL = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64, "f32": wasmtime.ValType.f32,
        "f64": wasmtime.ValType.f64}
_EXTERN_FUNC = 0
_Raw = ffi.wasmtime_val_raw_t
_local = threading.local()
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _p: None)
_EXTERN_SIZE = ctypes.sizeof(ffi.wasmtime_extern_t)
_EXTERN_OF = ffi.wasmtime_extern_t.of.offset
_I32, _I32X4 = ["i32"], ["i32"] * 4


def _c(name: str, res: Any, *args: Any) -> Any:
    """A private prototype of a short C function taking plain addresses (wasmtime-py's take pointers);
    these never run guest code, so they keep the GIL (a few thousand of them wire one instance)."""
    return prototype(name, list(args), res, keep_gil=True)


_vp = ctypes.c_void_p
_export_get = _c("wasmtime_instance_export_get", ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp)
_func_new_unchecked = _c("wasmtime_func_new_unchecked", None, _vp, _vp, ffi.wasmtime_func_unchecked_callback_t,
                         _vp, ctypes.CFUNCTYPE(None, ctypes.c_void_p), _vp)
_memory_data = _c("wasmtime_memory_data", ctypes.c_void_p, _vp, _vp)
_memory_data_size = _c("wasmtime_memory_data_size", ctypes.c_size_t, _vp, _vp)


class Host(Protocol):
    """What the component's imports are bound to."""

    def func(self, iface: str, name: str, ty: T.FuncType) -> Callable[..., Any]:
        """The Python implementation of `iface#name` (raise `LinkError` if there is none)."""

    def drop(self, res: T.Resource) -> Callable[[int], None]:
        """The destructor of host resource type `res` (called with the rep)."""


def take_error() -> BaseException | None:
    """The exception that made a canon host function trap on this thread, once."""
    e = getattr(_local, "error", None)
    _local.error = None
    return e


class CanonComponent:
    """A component prepared for core instantiation. Thread-safe: instances are per store."""

    def __init__(self, runtime: Any, data: bytes, host: Host, *, name: str = "component") -> None:
        self.runtime, self.name = runtime, name
        self.plan: Plan = parse(data, name)
        p = self.plan
        self.modules = [runtime.load(m, name=f"{name}#module{i}").raw for i, m in enumerate(p.modules)]
        self.module_imports: list[list[tuple[str, str]]] = []
        self.module_exports: list[dict[str, int]] = []
        for m in self.modules:
            if not isinstance(m, wasmtime.Module):
                raise InvalidModule(f"{name}: core module section holds a component")
            self.module_imports.append([(it.module, it.name or "") for it in m.imports])
            self.module_exports.append({e.name: i for i, e in enumerate(m.exports)})
        self.host = host
        self._drops: dict[int, Callable[[int], None]] = {}
        self._sources: dict[tuple[str, int], Any] = {}
        self.callbacks: dict[int, tuple[Any, wasmtime.FuncType]] = {}
        for idx, item in enumerate(p.core["func"]):
            if item[0] == "canon":
                self.callbacks[idx] = self._callback(idx, item[1])
        self.wiring = self._wire()

    def source(self, sort: str, idx: int) -> Any:
        """Where core item `sort` `idx` comes from: ("canon", func index) or ("x", real core instance,
        export name as bytes), following inline instances and aliases."""
        key = (sort, idx)
        got = self._sources.get(key)
        if got is None:
            got = self._sources[key] = self._source(sort, idx)
        return got

    def _source(self, sort: str, idx: int) -> Any:
        p = self.plan
        for _ in range(1000):
            item = p.core[sort][idx]
            if item[0] == "canon":
                return ("canon", idx)
            _, inst, name = item
            ci = p.core_instances[inst]
            if ci.module is not None:
                self._export_index(ci.module, name)
                return ("x", inst, name.encode())
            ref = ci.exports.get(name)
            if ref is None:
                raise LinkError(f"{self.name}: core instance {inst} has no export `{name}`")
            sort, idx = ref
        raise InvalidModule(f"{self.name}: alias chain too long")

    def _export_index(self, module: int, name: str) -> int:
        index = self.module_exports[module].get(name)
        if index is None:
            raise LinkError(f"{self.name}: core module {module} has no export `{name}`")
        return index

    def _wire(self) -> list[tuple[int, int, Any, list[Any]]]:
        """For each core instance made from a module: its import sources, resolved once."""
        p, out = self.plan, []
        for k, ci in enumerate(p.core_instances):
            if ci.module is None:
                continue
            slots = []
            for mod, field in self.module_imports[ci.module]:
                src = ci.args.get(mod)
                if src is None:
                    raise LinkError(f"{self.name}: core module {ci.module} imports from `{mod}`, which its "
                                    "instantiation does not supply")
                sci = p.core_instances[src]
                if sci.module is not None:
                    self._export_index(sci.module, field)
                    slots.append(("x", src, field.encode()))
                    continue
                ref = sci.exports.get(field)
                if ref is None:
                    raise LinkError(f"{self.name}: core module {ci.module} imports `{mod}` `{field}`, which "
                                    "its instantiation does not supply")
                slots.append(self.source(*ref))
            out.append((k, ci.module, self.modules[ci.module].ptr(), slots))
        return out

    def export(self, iface_prefix: str, name: str) -> ExportFunc:
        ename, lifted = self.plan.export_func(iface_prefix, name)
        return ExportFunc(f"{ename}#{name}", lifted)

    def host_drop(self, res: T.Resource, rep: int) -> None:
        f = self._drops.get(id(res))
        if f is None:
            f = self._drops[id(res)] = self.host.drop(res)
        f(rep)

    # -- canon functions ------------------------------------------------------------------------------
    def _callback(self, idx: int, cf: CanonFunc) -> tuple[Any, wasmtime.FuncType]:
        run: Callable[[Instance, Any], None]
        if cf.kind == "lower":
            f = self.plan.funcs[cf.func]
            if not isinstance(f, ImportedFunc):
                raise InvalidModule(f"{self.name}: canon lower of a lifted function (a component calling itself) "
                                    "is not supported by the canon prototype")
            if cf.opts.encoding != "utf8":
                raise InvalidModule(f"{self.name}: string-encoding={cf.opts.encoding} is not supported by the "
                                    "canon prototype (utf8 only)")
            lw = lowered(f, cf.opts, self.host.func(f.iface, f.name, f.type))
            ty = wasmtime.FuncType([_VAL[k]() for k in lw.params], [_VAL[k]() for k in lw.results])
            run = run_lowered(lw)
        else:
            res = cf.res
            assert res is not None
            kind = cf.kind
            params, results = ["i32"], ([] if kind == "resource.drop" else ["i32"])
            ty = wasmtime.FuncType([_VAL[k]() for k in params], [_VAL[k]() for k in results])

            def run(inst: Instance, args: Any) -> None:
                v = args[0].i32 & 0xFFFFFFFF
                if kind == "resource.drop":
                    rep, own = inst.handles.drop(res, v)
                    if own and not res.imported and res.dtor is not None:
                        inst.call_core(inst.core_func(res.dtor), ["i32"], [rep], [])
                elif kind == "resource.new":
                    args[0].i32 = inst.handles.new(res, v)
                else:
                    args[0].i32 = inst.handles.rep(res, v)

        label = f"{cf.kind} {idx}"

        def cb(_env: Any, _caller: Any, args: Any, _n: int) -> int:
            try:
                inst = _local.inst
                if not inst.may_leave:
                    raise CanonTrap(f"{label}: host called from realloc or post-return")
                run(inst, args)
                return 0
            except BaseException as e:
                _local.error = e
                msg = f"{label}: {e}" if not isinstance(e, CanonTrap) else str(e)
                raw = msg.encode("utf-8", "replace")
                trap = ffi.wasmtime_trap_new(ctypes.create_string_buffer(raw), len(raw))
                return ctypes.cast(trap, ctypes.c_void_p).value or 0

        return ffi.wasmtime_func_unchecked_callback_t(cb), ty

class Instance:
    """One instantiation of a `CanonComponent` in `store` (use once per request, then drop the store).

    Imports are wired from the plan's precomputed sources: each distinct (instance, export) or canon
    function is fetched once, straight into the first import slot that needs it, and copied (memmove)
    into the others."""

    def __init__(self, comp: CanonComponent, store: wasmtime.Store) -> None:
        self.comp, self.store = comp, store
        self.ctx = store._context()
        ctx = self._ctx = ctypes.cast(self.ctx, ctypes.c_void_p).value or 0
        self.handles = HandleTable(comp.host_drop)
        self.may_leave = True
        self._inst: dict[int, Any] = {}  # core instance index -> wasmtime_instance_t
        self._got: dict[Any, int] = {}  # source key -> address of a wasmtime_extern_t holding it
        self._keep: list[Any] = []
        self._mems: dict[int, Callable[[], tuple[int, int]]] = {}
        self._cxs: dict[int, Cx] = {}  # id(Opts) -> Cx; the Opts live in the plan as long as we do
        got, keep, memmove, sz = self._got, self._keep, ctypes.memmove, _EXTERN_SIZE
        with self.active():
            for k, _module, module_ptr, slots in comp.wiring:
                arr = (ffi.wasmtime_extern_t * max(len(slots), 1))()
                keep.append(arr)
                base = ctypes.addressof(arr)
                for i, key in enumerate(slots):
                    dst = base + i * sz
                    src = got.get(key)
                    if src is not None:
                        memmove(dst, src, sz)
                    else:
                        self._fetch(key, dst)
                        got[key] = dst
                inst = ffi.wasmtime_instance_t()
                trap = ctypes.POINTER(ffi.wasm_trap_t)()
                err = ffi.wasmtime_instance_new(self.ctx, module_ptr, arr, len(slots), ctypes.byref(inst),
                                                ctypes.byref(trap))
                _raise(err, trap)
                self._inst[k] = inst
                keep.append(inst)
        del ctx

    def _fetch(self, key: Any, dst: int) -> None:
        """Write the extern for source `key` at address `dst`."""
        if key[0] == "canon":
            cb, ty = self.comp.callbacks[key[1]]
            ctypes.c_uint8.from_address(dst).value = _EXTERN_FUNC
            _func_new_unchecked(self._ctx, ty.ptr(), cb, None, _FINALIZER, dst + _EXTERN_OF)
            return
        _, j, name = key
        inst = self._inst.get(j)
        # By name: wasmtime's `export_nth` walks the export list (slower for big modules).
        if inst is None or not _export_get(self._ctx, ctypes.addressof(inst), name, len(name), dst):
            raise LinkError(f"{self.comp.name}: core instance {j} has no export `{name.decode()}`")

    def extern(self, key: Any) -> Any:
        """The extern (a `wasmtime_extern_t`) for a source key."""
        addr = self._got.get(key)
        if addr is None:
            ext = ffi.wasmtime_extern_t()
            self._keep.append(ext)
            addr = ctypes.addressof(ext)
            self._fetch(key, addr)
            self._got[key] = addr
        return ffi.wasmtime_extern_t.from_address(addr)

    @contextmanager
    def active(self) -> Iterator[Instance]:
        prev = getattr(_local, "inst", None)
        _local.inst = self
        try:
            yield self
        finally:
            _local.inst = prev

    # -- core items -----------------------------------------------------------------------------------
    def core_func(self, idx: int) -> Any:
        return self.extern(self.comp.source("func", idx))

    def memory(self, idx: int) -> Callable[[], tuple[int, int]]:
        got = self._mems.get(idx)
        if got is not None:
            return got
        ext = self.extern(self.comp.source("memory", idx))
        mem = ctypes.addressof(ext) + _EXTERN_OF
        ctx = self._ctx

        def view() -> tuple[int, int]:
            return _memory_data(ctx, mem) or 0, _memory_data_size(ctx, mem)
        self._mems[idx] = view
        return view

    def cx(self, opts: Opts) -> Cx:
        """The lift/lower context for functions with `opts` (made once per instance, refreshed per use)."""
        cx = self._cxs.get(id(opts))
        if cx is not None:
            cx.refresh()
            return cx
        cx = self._cxs[id(opts)] = self._new_cx(opts)
        return cx

    def _new_cx(self, opts: Opts) -> Cx:
        mem = self.memory(opts.memory) if opts.memory is not None else None
        realloc = None
        if opts.realloc is not None:
            f = self.core_func(opts.realloc)

            def realloc(a: int, b: int, c: int, d: int) -> int:
                return int(self.call_core(f, _I32X4, [a, b, c, d], _I32, leave=False)[0]) & 0xFFFFFFFF
        return Cx(mem, realloc, self.handles)

    def call_core(self, ext: Any, params: list[str], args: list[Any], results: list[str], *,
                  leave: bool = True) -> list[Any]:
        """Call core function `ext` (its type is known from the canonical ABI: `params` → `results`).

        `leave=False` (realloc, post-return): the guest may not call the host meanwhile (the canonical
        ABI's `may_leave`); a host call then traps instead of re-entering a half-done lift or lower."""
        n = max(len(params), len(results), 1)
        buf = (_Raw * n)()
        for i, (k, v) in enumerate(zip(params, args, strict=True)):
            if k == "i32":
                buf[i].i32 = v
            elif k == "i64":
                buf[i].i64 = v
            else:
                setattr(buf[i], k, v)
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        prev, prev_leave = getattr(_local, "inst", None), self.may_leave
        _local.inst, self.may_leave = self, leave
        try:
            err = ffi.wasmtime_func_call_unchecked(self.ctx, ctypes.byref(ext.of.func), buf, n,
                                                   ctypes.byref(trap))
        finally:
            _local.inst, self.may_leave = prev, prev_leave
        _raise(err, trap)
        return [getattr(buf[i], k) for i, k in enumerate(results)]


def _raise(err: Any, trap: Any) -> None:
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)
    if trap:
        raise wasmtime.Trap._from_ptr(trap)
