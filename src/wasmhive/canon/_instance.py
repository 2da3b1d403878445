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
from dataclasses import dataclass
from typing import Any, Protocol

import wasmtime
from wasmtime import _bindings as ffi

from ..errors import GuestTrap, InvalidModule, LinkError
from . import _types as T
from ._abi import CanonTrap, Cx, flat_lifter, flat_lowerer, loader, storer
from ._handles import HandleTable
from ._parse import CanonFunc, ImportedFunc, Lifted, Opts, Plan, parse

__all__ = ["CanonComponent", "ExportFunc", "Host", "Instance", "take_error"]

MAX_FLAT_PARAMS, MAX_FLAT_RESULTS = 16, 1
_VAL = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64, "f32": wasmtime.ValType.f32,
        "f64": wasmtime.ValType.f64}
_EXTERN_FUNC = 0
_Raw = ffi.wasmtime_val_raw_t
_local = threading.local()
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _p: None)


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


def _read(kinds: list[str]) -> Callable[[Any], list[Any]]:
    getters = [(i, k) for i, k in enumerate(kinds)]
    return lambda args: [getattr(args[i], k) for i, k in getters]


def _write(raw: Any, i: int, kind: str, v: Any) -> None:
    setattr(raw[i], kind, v)


@dataclass
class _Lowered:
    """A `canon lower`: the host function and its converters."""

    name: str
    host: Callable[..., Any]
    params: list[str]  # core param kinds of the core function
    results: list[str]
    lift_args: Callable[[Cx, list[Any]], list[Any]]
    lower_result: Callable[[Cx, Any, list[Any], Any], None] | None
    opts: Opts


def _arg_lifter(ft: T.FuncType, name: str) -> tuple[list[str], Callable[[Cx, list[Any]], list[Any]]]:
    flat = [k for _, p in ft.params for k in T.flat(p)]
    if len(flat) <= MAX_FLAT_PARAMS:
        lifters = [flat_lifter(p) for _, p in ft.params]

        def lift_flat(cx: Cx, vals: list[Any]) -> list[Any]:
            it = iter(vals)
            return [f(cx, it) for f in lifters]
        return flat, lift_flat
    tup = T.Tuple([p for _, p in ft.params])
    ld, al = loader(tup), T.align(tup)

    def lift_mem(cx: Cx, vals: list[Any]) -> list[Any]:
        ptr = vals[0] & 0xFFFFFFFF
        if ptr % al:
            raise CanonTrap(f"{name}: parameter pointer {ptr} not aligned to {al}")
        return list(ld(cx, ptr))
    return ["i32"], lift_mem


class ExportFunc:
    """A lifted export: `call(instance, *args)` lowers the arguments, runs the core function, lifts the
    result and runs `post-return`."""

    def __init__(self, comp: CanonComponent, name: str, lifted: Lifted) -> None:
        ft = lifted.type
        self.name, self.core, self.opts = name, lifted.core, lifted.opts
        flat = [k for _, p in ft.params for k in T.flat(p)]
        self.params_in_memory = len(flat) > MAX_FLAT_PARAMS
        self.param_kinds = ["i32"] if self.params_in_memory else flat
        self.lowerers = [flat_lowerer(p) for _, p in ft.params]
        self.tuple = T.Tuple([p for _, p in ft.params])
        self.store_params = storer(self.tuple) if self.params_in_memory else None
        rflat = T.flat(ft.result) if ft.result is not None else []
        self.result_in_memory = len(rflat) > MAX_FLAT_RESULTS
        self.result_kinds = ["i32"] if self.result_in_memory else rflat
        self.result_type = ft.result
        self.load_result = loader(ft.result) if ft.result is not None and self.result_in_memory else None
        self.lift_result = flat_lifter(ft.result) if ft.result is not None and not self.result_in_memory else None

    def call(self, inst: Instance, *args: Any) -> Any:
        cx = inst.cx(self.opts)
        if self.params_in_memory:
            assert self.store_params is not None
            ptr = cx.alloc(T.align(self.tuple), T.size(self.tuple), f"{self.name} parameters")
            self.store_params(cx, args, ptr)
            flat: list[Any] = [ptr]
        else:
            flat = []
            for f, a in zip(self.lowerers, args, strict=True):
                flat += f(cx, a)
        out = inst.call_core(inst.core_func(self.core), self.param_kinds, flat, self.result_kinds)
        try:
            cx.refresh()
            value = None
            if self.lift_result is not None:
                value = self.lift_result(cx, iter(out))
            elif self.load_result is not None:
                ptr = out[0] & 0xFFFFFFFF
                al = T.align(self.result_type) if self.result_type is not None else 1
                if ptr % al:
                    raise CanonTrap(f"{self.name}: result pointer {ptr} not aligned to {al}")
                value = self.load_result(cx, ptr)
        except CanonTrap as e:
            raise GuestTrap(f"{self.name}: {e}") from None
        if self.opts.post_return is not None:
            inst.call_core(inst.core_func(self.opts.post_return), self.result_kinds, out, [])
        return value


class CanonComponent:
    """A component prepared for core instantiation. Thread-safe: instances are per store."""

    def __init__(self, runtime: Any, data: bytes, host: Host, *, name: str = "component") -> None:
        self.runtime, self.name = runtime, name
        self.plan: Plan = parse(data, name)
        p = self.plan
        self.modules = [runtime.load(m, name=f"{name}#module{i}").raw for i, m in enumerate(p.modules)]
        self.module_imports: list[list[tuple[str, str]]] = []
        for m in self.modules:
            if not isinstance(m, wasmtime.Module):
                raise InvalidModule(f"{name}: core module section holds a component")
            self.module_imports.append([(it.module, it.name or "") for it in m.imports])
        self.host = host
        self._drops: dict[int, Callable[[int], None]] = {}
        self.callbacks: dict[int, tuple[Any, wasmtime.FuncType]] = {}
        for idx, item in enumerate(p.core["func"]):
            if item[0] == "canon":
                self.callbacks[idx] = self._callback(idx, item[1])

    def export(self, iface_prefix: str, name: str) -> ExportFunc:
        ename, lifted = self.plan.export_func(iface_prefix, name)
        return ExportFunc(self, f"{ename}#{name}", lifted)

    def host_drop(self, res: T.Resource, rep: int) -> None:
        f = self._drops.get(id(res))
        if f is None:
            f = self._drops[id(res)] = self.host.drop(res)
        f(rep)

    # -- canon functions ------------------------------------------------------------------------------
    def _callback(self, idx: int, cf: CanonFunc) -> tuple[Any, wasmtime.FuncType]:
        if cf.kind == "lower":
            f = self.plan.funcs[cf.func]
            if not isinstance(f, ImportedFunc):
                raise InvalidModule(f"{self.name}: canon lower of a lifted function (a component calling itself) "
                                    "is not supported by the canon prototype")
            if cf.opts.encoding != "utf8":
                raise InvalidModule(f"{self.name}: string-encoding={cf.opts.encoding} is not supported by the "
                                    "canon prototype (utf8 only)")
            lw = self._lowered(f, cf.opts)
            ty = wasmtime.FuncType([_VAL[k]() for k in lw.params], [_VAL[k]() for k in lw.results])
            run = self._run_lowered(lw)
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
                run(_local.inst, args)
                return 0
            except BaseException as e:  # noqa: BLE001 - every failure becomes a trap, never a crash
                _local.error = e
                msg = f"{label}: {e}" if not isinstance(e, CanonTrap) else str(e)
                raw = msg.encode("utf-8", "replace")
                trap = ffi.wasmtime_trap_new(ctypes.create_string_buffer(raw), len(raw))
                return ctypes.cast(trap, ctypes.c_void_p).value or 0

        return ffi.wasmtime_func_unchecked_callback_t(cb), ty

    def _lowered(self, f: ImportedFunc, opts: Opts) -> _Lowered:
        ft = f.type
        params, lift_args = _arg_lifter(ft, f.name)
        host = self.host.func(f.iface, f.name, ft)
        results: list[str] = []
        lower_result: Callable[[Cx, Any, list[Any], Any], None] | None = None
        if ft.result is not None:
            rflat = T.flat(ft.result)
            if len(rflat) > MAX_FLAT_RESULTS:
                params = [*params, "i32"]
                st, al = storer(ft.result), T.align(ft.result)

                def lower_mem(cx: Cx, v: Any, vals: list[Any], raw: Any) -> None:
                    ptr = vals[-1] & 0xFFFFFFFF
                    if ptr % al:
                        raise CanonTrap(f"{f.name}: result pointer {ptr} not aligned to {al}")
                    cx.check(ptr, T.size(ft.result), f"{f.name} result")  # type: ignore[arg-type]
                    st(cx, v, ptr)
                lower_result = lower_mem
            else:
                results = rflat
                lf, kind = flat_lowerer(ft.result), rflat[0]

                def lower_flat(cx: Cx, v: Any, vals: list[Any], raw: Any) -> None:
                    setattr(raw[0], kind, lf(cx, v)[0])
                lower_result = lower_flat
        return _Lowered(f"{f.iface}#{f.name}", host, params, results, lift_args, lower_result, opts)

    def _run_lowered(self, lw: _Lowered) -> Callable[[Instance, Any], None]:
        read = _read(lw.params)
        n_args = len(lw.params) - (1 if lw.lower_result is not None and not lw.results else 0)
        opts, lift_args, host, lower_result = lw.opts, lw.lift_args, lw.host, lw.lower_result

        def run(inst: Instance, raw: Any) -> None:
            vals = read(raw)
            cx = inst.cx(opts)
            args = lift_args(cx, vals[:n_args] if n_args != len(vals) else vals)
            result = host(*args)
            if lower_result is not None:
                cx.refresh()
                lower_result(cx, result, vals, raw)
        return run


class Instance:
    """One instantiation of a `CanonComponent` in `store` (use once per request, then drop the store)."""

    def __init__(self, comp: CanonComponent, store: wasmtime.Store) -> None:
        self.comp, self.store = comp, store
        self.ctx = store._context()
        self.handles = HandleTable(comp.host_drop)
        p = comp.plan
        self._instances: list[Any] = []  # wasmtime_instance_t, or None for inline instances
        self._funcs: dict[int, Any] = {}  # core func index -> wasmtime_extern_t
        self._mems: dict[int, Any] = {}
        with self.active():
            for ci in p.core_instances:
                if ci.module is None:
                    self._instances.append(None)
                    continue
                imports = comp.module_imports[ci.module]
                arr = (ffi.wasmtime_extern_t * max(len(imports), 1))()
                for i, (mod, field) in enumerate(imports):
                    src = ci.args.get(mod)
                    if src is None:
                        raise LinkError(f"{comp.name}: core module {ci.module} imports from `{mod}`, "
                                        "which its instantiation does not supply")
                    arr[i] = self.export(src, field)
                inst = ffi.wasmtime_instance_t()
                trap = ctypes.POINTER(ffi.wasm_trap_t)()
                err = ffi.wasmtime_instance_new(self.ctx, comp.modules[ci.module].ptr(), arr, len(imports),
                                                ctypes.byref(inst), ctypes.byref(trap))
                _raise(err, trap)
                self._instances.append(inst)

    @contextmanager
    def active(self) -> Iterator[Instance]:
        prev = getattr(_local, "inst", None)
        _local.inst = self
        try:
            yield self
        finally:
            _local.inst = prev

    # -- core items -----------------------------------------------------------------------------------
    def export(self, core_instance: int, name: str) -> Any:
        """The extern `name` of core instance `core_instance`."""
        inst = self._instances[core_instance]
        if inst is None:
            ci = self.comp.plan.core_instances[core_instance]
            ref = ci.exports.get(name)
            if ref is None:
                raise LinkError(f"{self.comp.name}: core instance {core_instance} has no export `{name}`")
            return self.core_item(*ref)
        out = ffi.wasmtime_extern_t()
        raw = name.encode()
        if not ffi.wasmtime_instance_export_get(self.ctx, ctypes.byref(inst), raw, len(raw), ctypes.byref(out)):
            raise LinkError(f"{self.comp.name}: core instance {core_instance} has no export `{name}`")
        return out

    def core_item(self, sort: str, idx: int) -> Any:
        if sort == "func":
            return self.core_func(idx)
        item = self.comp.plan.core[sort][idx]
        return self.export(item[1], item[2])

    def core_func(self, idx: int) -> Any:
        ext = self._funcs.get(idx)
        if ext is not None:
            return ext
        item = self.comp.plan.core["func"][idx]
        if item[0] == "alias":
            ext = self.export(item[1], item[2])
        else:
            cb, ty = self.comp.callbacks[idx]
            ext = ffi.wasmtime_extern_t()
            ext.kind = _EXTERN_FUNC
            ffi.wasmtime_func_new_unchecked(self.ctx, ty.ptr(), cb, None, _FINALIZER, ctypes.byref(ext.of.func))
        self._funcs[idx] = ext
        return ext

    def memory(self, idx: int) -> Callable[[], tuple[int, int]]:
        ext = self._mems.get(idx)
        if ext is None:
            item = self.comp.plan.core["memory"][idx]
            ext = self._mems[idx] = self.export(item[1], item[2])
        mem = ctypes.byref(ext.of.memory)
        ctx = self.ctx
        addr = ctypes.addressof

        def view() -> tuple[int, int]:
            base = ffi.wasmtime_memory_data(ctx, mem)
            return addr(base.contents), ffi.wasmtime_memory_data_size(ctx, mem)
        return view

    def cx(self, opts: Opts) -> Cx:
        mem = self.memory(opts.memory) if opts.memory is not None else None
        realloc = None
        if opts.realloc is not None:
            f = self.core_func(opts.realloc)

            def realloc(a: int, b: int, c: int, d: int) -> int:
                return int(self.call_core(f, ["i32"] * 4, [a, b, c, d], ["i32"])[0]) & 0xFFFFFFFF
        return Cx(mem, realloc, self.handles)

    def call_core(self, ext: Any, params: list[str], args: list[Any], results: list[str]) -> list[Any]:
        """Call core function `ext` (its type is known from the canonical ABI: `params` → `results`)."""
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
        with self.active():
            err = ffi.wasmtime_func_call_unchecked(self.ctx, ctypes.byref(ext.of.func), buf, len(params),
                                                   ctypes.byref(trap))
        _raise(err, trap)
        return [getattr(buf[i], k) for i, k in enumerate(results)]


def _raise(err: Any, trap: Any) -> None:
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)
    if trap:
        raise wasmtime.Trap._from_ptr(trap)
