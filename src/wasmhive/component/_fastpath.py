"""Fast host calls for wasmtime components: converters built once per type, bytes moved in bulk.

The stock `wasmtime.component` bindings re-read a function's type on every host call and convert
`list<u8>` one value at a time (each byte is its own 32-byte `wasmtime_component_val_t` in the C API).
This module builds a converter closure per value type once, and moves byte lists with strided
`memoryview` copies over the C value array (one C-level loop instead of one Python call per byte).

Values follow wasmtime-py's conventions (`bytes` for `list<u8>`, `Variant` for tagged variants, bare
values when every case has a distinct Python class, `Record` for records, tuples, sets for flags, `None`
for `option::none`), with two deliberate differences:

* **Host resources as integers.** Pass `host_resources={type_id: ...}` (the ids given to
  `ResourceType.host(id)`); an `own`/`borrow` of such a type arrives as its `rep` (an `int`, borrows
  already released) and an `own` result may be returned as a plain `int` rep.
* **No case shadowing.** For untagged variants the cases with a specific class are tried before the one
  that accepts anything (`result<option<T>, E>` can return its error, unlike the stock bindings).

Host functions registered with `define_func` never use wasmtime-py's process-wide exception slot: an
exception becomes a trap whose message names the function, and the exception itself is kept for the
calling thread in `take_host_error()` (safe with many threads in guests at once).

    >>> define_func(linker_instance, "double", lambda x: 2 * x)
    >>> caller = ExportCall(instance.get_func(store, "run"), store)
    >>> caller(store, b"payload")
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Mapping
from typing import Any

import wasmtime
import wasmtime.component as wc
from wasmtime.component import _types as t

from ..runtime._capi import ffi, prototype
from ._convert import PAYLOAD, VAL, VAL_SIZE, K, read_bytes, write_bytes
from ._func import pending, take_pending

__all__ = [
    "ExportCall",
    "HostTrap",
    "define_func",
    "define_resource",
    "lift",
    "lower",
    "read_bytes",
    "take_host_error",
    "write_bytes",
]

# Both take the store context's address first (resources need it), then the `wasmtime_component_val_t`
# address; `Lower` takes the value in between.
Lift = Callable[[int, int], Any]
Lower = Callable[[int, Any, int], None]

# The C layout and the `list<u8>` bulk copy are the component layer's (`_convert.py`), shared.
_K = {name.upper(): kind for name, kind in K.items()}


def _c(name: str, res: Any, *args: Any) -> Any:
    """A private prototype of a C API function taking plain addresses (the shared ones want pointers)."""
    return prototype(name, list(args), res)


_vp, _sz = ctypes.c_void_p, ctypes.c_size_t
_byte_vec_new = _c("wasm_byte_vec_new", None, _vp, _sz, ctypes.c_char_p)
_vallist_new_uninit = _c("wasmtime_component_vallist_new_uninit", None, _vp, _sz)
_valrecord_new_uninit = _c("wasmtime_component_valrecord_new_uninit", None, _vp, _sz)
_valflags_new_uninit = _c("wasmtime_component_valflags_new_uninit", None, _vp, _sz)
_val_new = _c("wasmtime_component_val_new", _vp, _vp)
_val_delete = _c("wasmtime_component_val_delete", None, _vp)
_any_clone = _c("wasmtime_component_resource_any_clone", _vp, _vp)
_any_to_host = _c("wasmtime_component_resource_any_to_host", _vp, _vp, _vp, _vp)
_any_drop = _c("wasmtime_component_resource_any_drop", _vp, _vp, _vp)
_host_new = _c("wasmtime_component_resource_host_new", _vp, ctypes.c_bool, ctypes.c_uint32, ctypes.c_uint32)
_host_rep = _c("wasmtime_component_resource_host_rep", ctypes.c_uint32, _vp)
_host_delete = _c("wasmtime_component_resource_host_delete", None, _vp)
_host_to_any = _c("wasmtime_component_resource_host_to_any", _vp, _vp, _vp, _vp)
_error_new = _c("wasmtime_error_new", _vp, ctypes.c_char_p)
_func_call = _c("wasmtime_component_func_call", _vp, _vp, _vp, _vp, _sz, _vp, _sz)

_u8 = ctypes.c_uint8.from_address
_u64 = ctypes.c_uint64.from_address
_ptr = ctypes.c_void_p.from_address


def _rd(addr: int) -> int:
    """The pointer stored at `addr` (0 for NULL)."""
    return _ptr(addr).value or 0


_string_at = ctypes.string_at


class HostTrap(Exception):
    """Raise in a host function to trap the guest with this message (any exception does the same)."""


def _raise_error(ptr: int) -> None:
    raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(ptr, ctypes.POINTER(ffi.wasmtime_error_t)))


# -- names ------------------------------------------------------------------------------------------
def _read_name(addr: int) -> str:
    n = _u64(addr).value
    return _string_at(_rd(addr + 8), n).decode() if n else ""


def _write_name(addr: int, text: str) -> None:
    raw = text.encode()
    _byte_vec_new(addr, len(raw), raw)


# -- type analysis ----------------------------------------------------------------------------------
def _host_id(rt: wc.ResourceType, host_resources: Mapping[int, wc.ResourceType] | None) -> int | None:
    for rid, known in (host_resources or {}).items():
        if known == rt:
            return rid
    return None


def _classes(ty: t.ValType | None, hr: Mapping[int, wc.ResourceType] | None) -> set[type]:
    """The Python classes a value of `ty` may have (what decides tagged vs bare variants)."""
    if ty is None:
        return {object}
    if isinstance(ty, (t.OwnType, t.BorrowType)):
        return {int} if _host_id(ty.ty, hr) is not None else {wc.ResourceAny, wc.ResourceHost}
    if isinstance(ty, t.VariantLikeType):
        if _tagged(ty, hr):
            return {t.Variant}
        out: set[type] = set()
        for _, case in ty._cases():
            out |= _classes(case, hr)
        return out
    s: set[type] = set()
    ty.add_classes(s)
    return s


def _tagged(ty: t.VariantLikeType, hr: Mapping[int, wc.ResourceType] | None) -> bool:
    seen: set[type] = set()
    for _, case in ty._cases():
        cs = _classes(case, hr)
        if cs & seen:
            return True
        seen |= cs
    return False


# -- lifting (C value → Python) ---------------------------------------------------------------------
_SCALARS: dict[type, tuple[Any, str]] = {
    t.Bool: (ctypes.c_bool, "BOOL"), t.S8: (ctypes.c_int8, "S8"), t.U8: (ctypes.c_uint8, "U8"),
    t.S16: (ctypes.c_int16, "S16"), t.U16: (ctypes.c_uint16, "U16"),
    t.S32: (ctypes.c_int32, "S32"), t.U32: (ctypes.c_uint32, "U32"),
    t.S64: (ctypes.c_int64, "S64"), t.U64: (ctypes.c_uint64, "U64"),
    t.F32: (ctypes.c_float, "F32"), t.F64: (ctypes.c_double, "F64"),
}


def lift(ty: t.ValType, host_resources: Mapping[int, wc.ResourceType] | None = None) -> Lift:
    """A function `(ctx, addr) -> value` reading the `wasmtime_component_val_t` at `addr`.

    It never frees the C value (its owner does); borrows of host resources are released.
    """
    hr = host_resources
    scalar = _SCALARS.get(type(ty))
    if scalar is not None:
        from_addr = scalar[0].from_address
        return lambda c, a: from_addr(a + PAYLOAD).value
    if isinstance(ty, t.Char):
        return lambda c, a: chr(ctypes.c_uint32.from_address(a + PAYLOAD).value)
    if isinstance(ty, (t.String, t.EnumType)):
        return lambda c, a: _read_name(a + PAYLOAD)
    if isinstance(ty, t.ListType):
        elem = ty.element
        if isinstance(elem, t.U8):
            return lambda c, a: read_bytes(a + PAYLOAD)
        el = lift(elem, hr)

        def lift_list(c: int, a: int) -> list[Any]:
            n, data = _u64(a + PAYLOAD).value, _rd(a + PAYLOAD + 8)
            return [el(c, data + i * VAL_SIZE) for i in range(n)]
        return lift_list
    if isinstance(ty, t.TupleType):
        els = [lift(e, hr) for e in ty.elements]
        return lambda c, a: tuple(f(c, _rd(a + PAYLOAD + 8) + i * VAL_SIZE) for i, f in enumerate(els))
    if isinstance(ty, t.RecordType):
        fields = [(name, lift(fty, hr)) for name, fty in ty.fields]
        entry = ctypes.sizeof(ffi.wasmtime_component_valrecord_entry)
        voff = ffi.wasmtime_component_valrecord_entry.val.offset

        def lift_record(c: int, a: int) -> t.Record:
            data, rec = _rd(a + PAYLOAD + 8), t.Record()
            for i, (name, f) in enumerate(fields):
                setattr(rec, name, f(c, data + i * entry + voff))
            return rec
        return lift_record
    if isinstance(ty, t.FlagsType):
        def lift_flags(c: int, a: int) -> set[str]:
            n, data = _u64(a + PAYLOAD).value, _rd(a + PAYLOAD + 8)
            return {_read_name(data + 16 * i) for i in range(n)}
        return lift_flags
    if isinstance(ty, (t.OwnType, t.BorrowType)):
        rid = _host_id(ty.ty, hr)
        if rid is None:
            return lambda c, a: wc.ResourceAny._from_ptr(ctypes.cast(
                _any_clone(_rd(a + PAYLOAD)), ctypes.POINTER(ffi.wasmtime_component_resource_any_t)))

        def lift_host(c: int, a: int) -> int:
            out = ctypes.c_void_p()
            err = _any_to_host(c, _rd(a + PAYLOAD), ctypes.byref(out))
            if err:
                _raise_error(err)
            try:
                return int(_host_rep(out.value))
            finally:
                _host_delete(out.value)
        return lift_host
    if isinstance(ty, t.VariantLikeType):
        return _lift_variant(ty, hr)
    raise TypeError(f"no fast conversion for {type(ty).__name__}")


def _lift_variant(ty: t.VariantLikeType, hr: Any) -> Lift:
    tagged = _tagged(ty, hr)
    cases = {name: (lift(c, hr) if c is not None else None) for name, c in ty._cases()}
    Variant = t.Variant

    def finish(c: int, name: str, payload_ptr: int | None) -> Any:
        f = cases[name]
        value = f(c, payload_ptr) if f is not None and payload_ptr else None
        if tagged:
            return Variant(name) if f is None else Variant(name, value)
        return value

    if isinstance(ty, t.OptionType):
        some = cases["some"]
        assert some is not None
        if tagged:
            return lambda c, a: (Variant("some", some(c, p)) if (p := _rd(a + PAYLOAD)) else Variant("none"))
        return lambda c, a: some(c, p) if (p := _rd(a + PAYLOAD)) else None
    if isinstance(ty, t.ResultType):
        return lambda c, a: finish(c, "ok" if _u8(a + PAYLOAD).value else "err", _rd(a + PAYLOAD + 8))
    return lambda c, a: finish(c, _read_name(a + PAYLOAD), _rd(a + PAYLOAD + 16))


# -- lowering (Python → C value) --------------------------------------------------------------------
def lower(ty: t.ValType, host_resources: Mapping[int, wc.ResourceType] | None = None) -> Lower:
    """A function writing a Python value into the (default-initialised) `wasmtime_component_val_t` at an
    address. The payload is written before the kind byte, so a failure leaves a valid value behind."""
    hr = host_resources
    scalar = _SCALARS.get(type(ty))
    if scalar is not None:
        ctype, kname = scalar
        kind = _K[kname]
        from_addr = ctype.from_address

        def lower_scalar(ctx: int, v: Any, a: int) -> None:
            from_addr(a + PAYLOAD).value = v  # ctypes refuses non-numbers
            _u8(a).value = kind
        return lower_scalar
    if isinstance(ty, t.Char):
        def lower_char(ctx: int, v: Any, a: int) -> None:
            ctypes.c_uint32.from_address(a + PAYLOAD).value = ord(v)
            _u8(a).value = _K["CHAR"]
        return lower_char
    if isinstance(ty, (t.String, t.EnumType)):
        kind = _K["STRING"] if isinstance(ty, t.String) else _K["ENUM"]

        def lower_str(ctx: int, v: Any, a: int) -> None:
            if not isinstance(v, str):
                raise TypeError(f"expected str, got {type(v).__name__}")
            _write_name(a + PAYLOAD, v)
            _u8(a).value = kind
        return lower_str
    if isinstance(ty, (t.ListType, t.TupleType)):
        kind = _K["LIST"] if isinstance(ty, t.ListType) else _K["TUPLE"]
        if isinstance(ty, t.ListType) and isinstance(ty.element, t.U8):
            def lower_bytes(ctx: int, v: Any, a: int) -> None:
                if not isinstance(v, (bytes, bytearray, memoryview)):
                    raise TypeError(f"expected bytes, got {type(v).__name__}")
                write_bytes(a + PAYLOAD, v)
                _u8(a).value = kind
            return lower_bytes
        if isinstance(ty, t.ListType):
            el = lower(ty.element, hr)
            els: list[Lower] | None = None
        else:
            els = [lower(e, hr) for e in ty.elements]

        def lower_seq(ctx: int, v: Any, a: int) -> None:
            items = list(v)
            if els is not None and len(items) != len(els):
                raise TypeError(f"expected a tuple of {len(els)}, got {len(items)} items")
            _vallist_new_uninit(a + PAYLOAD, len(items))
            data = _rd(a + PAYLOAD + 8)
            _u8(a).value = kind
            for i, item in enumerate(items):
                (el if els is None else els[i])(ctx, item, data + i * VAL_SIZE)
        return lower_seq
    if isinstance(ty, t.RecordType):
        fields = [(name, lower(fty, hr)) for name, fty in ty.fields]
        entry = ctypes.sizeof(ffi.wasmtime_component_valrecord_entry)
        voff = ffi.wasmtime_component_valrecord_entry.val.offset

        def lower_record(ctx: int, v: Any, a: int) -> None:
            _valrecord_new_uninit(a + PAYLOAD, len(fields))
            data = _rd(a + PAYLOAD + 8)
            _u8(a).value = _K["RECORD"]
            for i, (name, f) in enumerate(fields):
                _write_name(data + i * entry, name)
                f(ctx, v[name] if isinstance(v, dict) else getattr(v, name), data + i * entry + voff)
        return lower_record
    if isinstance(ty, t.FlagsType):
        def lower_flags(ctx: int, v: Any, a: int) -> None:
            names = sorted(v)
            _valflags_new_uninit(a + PAYLOAD, len(names))
            data = _rd(a + PAYLOAD + 8)
            _u8(a).value = _K["FLAGS"]
            for i, name in enumerate(names):
                _write_name(data + 16 * i, name)
        return lower_flags
    if isinstance(ty, (t.OwnType, t.BorrowType)):
        return _lower_resource(_host_id(ty.ty, hr), isinstance(ty, t.OwnType))
    if isinstance(ty, t.VariantLikeType):
        return _lower_variant(ty, hr)
    raise TypeError(f"no fast conversion for {type(ty).__name__}")


def _lower_resource(rid: int | None, owned: bool) -> Lower:
    kind = _K["RESOURCE"]

    def lower_res(ctx: int, v: Any, a: int) -> None:
        if isinstance(v, wc.ResourceAny):
            ptr = _any_clone(ctypes.cast(v.ptr(), ctypes.c_void_p).value)
        else:
            if isinstance(v, wc.ResourceHost):
                host = _host_new(v.owned, v.rep, v.type)
            elif isinstance(v, int) and rid is not None:
                host = _host_new(owned, v, rid)
            else:
                raise TypeError(f"expected a resource handle, got {type(v).__name__}")
            out = ctypes.c_void_p()
            err = _host_to_any(ctx, host, ctypes.byref(out))
            _host_delete(host)
            if err:
                _raise_error(err)
            ptr = out.value
        _ptr(a + PAYLOAD).value = ptr
        _u8(a).value = kind
    return lower_res


def _boxed(f: Lower, ctx: int, v: Any) -> int:
    tmp = VAL()
    f(ctx, v, ctypes.addressof(tmp))
    return int(_val_new(ctypes.addressof(tmp)))


def _lower_variant(ty: t.VariantLikeType, hr: Any) -> Lower:
    tagged = _tagged(ty, hr)
    cases = [(name, lower(c, hr) if c is not None else None, _classes(c, hr)) for name, c in ty._cases()]
    by_name = {name: f for name, f, _ in cases}
    # Untagged: specific classes first, then the one case (if any) that takes anything.
    specific = [(n, f, tuple(cs)) for n, f, cs in cases if object not in cs]
    catch_all = [(n, f) for n, f, cs in cases if object in cs]

    def pick(v: Any) -> tuple[str, Lower | None, Any]:
        if tagged:
            if not isinstance(v, t.Variant) or v.tag not in by_name:
                raise TypeError(f"expected a Variant with one of {sorted(by_name)}, got {v!r}")
            return v.tag, by_name[v.tag], v.payload
        for name, f, cls in specific:
            if isinstance(v, cls):
                return name, f, v
        if catch_all:
            name, f = catch_all[0]
            if f is not None or v is None:
                return name, f, v
        raise TypeError(f"value {v!r} fits no case of {[n for n, _, _ in cases]}")

    def payload(ctx: int, f: Lower | None, v: Any) -> int:
        return 0 if f is None else _boxed(f, ctx, v)

    if isinstance(ty, t.OptionType):
        some = by_name["some"]
        assert some is not None

        def lower_option(ctx: int, v: Any, a: int) -> None:
            if tagged:
                name, _, v = pick(v)
                _ptr(a + PAYLOAD).value = _boxed(some, ctx, v) if name == "some" else 0
            else:
                _ptr(a + PAYLOAD).value = None if v is None else _boxed(some, ctx, v)
            _u8(a).value = _K["OPTION"]
        return lower_option
    if isinstance(ty, t.ResultType):
        def lower_result(ctx: int, v: Any, a: int) -> None:
            name, f, v = pick(v)
            _ptr(a + PAYLOAD + 8).value = payload(ctx, f, v) or None
            ctypes.c_bool.from_address(a + PAYLOAD).value = name == "ok"
            _u8(a).value = _K["RESULT"]
        return lower_result

    def lower_variant(ctx: int, v: Any, a: int) -> None:
        name, f, v = pick(v)
        _ptr(a + PAYLOAD + 16).value = payload(ctx, f, v) or None
        _write_name(a + PAYLOAD, name)
        _u8(a).value = _K["VARIANT"]
    return lower_variant


# -- host functions and resources -------------------------------------------------------------------
def take_host_error() -> BaseException | None:
    """The exception that made a host function (or resource destructor) trap on this thread, once.

    The slot is the component layer's (`_func.pending`): one per-thread slot for every host call."""
    return take_pending()


class _HostFunc:
    __slots__ = ("func", "hr", "lifts", "lower_result", "name")

    def __init__(self, name: str, func: Callable[..., Any], hr: Mapping[int, wc.ResourceType] | None) -> None:
        self.name, self.func, self.hr = name, func, hr
        self.lifts: list[Lift] | None = None
        self.lower_result: Lower | None = None

    def build(self, ty: int) -> list[Lift]:
        # The type pointer is borrowed from wasmtime for this call: `owner` keeps it from being freed.
        fty = wc.FuncType._from_ptr(ctypes.cast(ty, ctypes.POINTER(ffi.wasmtime_component_func_type_t)), owner=self)
        rt = fty.result
        self.lower_result = lower(rt, self.hr) if rt is not None else None
        lifts = [lift(pt, self.hr) for _, pt in fty.params]
        self.lifts = lifts  # set last: another thread may be reading
        return lifts


_REGISTRY: list[Any] = []
_CALLBACK = ctypes.CFUNCTYPE(_sz, _sz, _vp, _vp, _vp, _sz, _vp, _sz)
_DTOR = ctypes.CFUNCTYPE(_sz, _sz, _vp, ctypes.c_uint32)
_FINALIZER = ctypes.CFUNCTYPE(None, _vp)


def _fail(what: str, e: BaseException) -> int:
    pending.exc = e
    msg = f"{what}: {type(e).__name__}: {e}" if not isinstance(e, HostTrap) else f"{what}: {e}"
    return int(_error_new(msg.encode("utf-8", "replace")))


@_CALLBACK  # type: ignore[untyped-decorator]
def _trampoline(env: int, ctx: int, ty: int, args: int, nargs: int, results: int, nresults: int) -> int:
    hf: _HostFunc = _REGISTRY[env]
    try:
        lifts = hf.lifts or hf.build(ty)
        if nargs == 0:
            r = hf.func()
        elif nargs == 1:
            r = hf.func(lifts[0](ctx, args))
        elif nargs == 2:
            r = hf.func(lifts[0](ctx, args), lifts[1](ctx, args + VAL_SIZE))
        else:
            r = hf.func(*[f(ctx, args + i * VAL_SIZE) for i, f in enumerate(lifts)])
        if nresults:
            hf.lower_result(ctx, r, results)  # type: ignore[misc]
        return 0
    except BaseException as e:  # every failure must become a trap, never unwind into C
        return _fail(hf.name, e)


@_DTOR  # type: ignore[untyped-decorator]
def _dtor_trampoline(env: int, ctx: int, rep: int) -> int:
    name, dtor = _REGISTRY[env]
    try:
        dtor(rep)
        return 0
    except BaseException as e:  # same: never unwind into C
        return _fail(f"[resource-drop]{name}", e)


@_FINALIZER  # type: ignore[untyped-decorator]
def _finalize(env: int | None) -> None:
    registry = _REGISTRY
    if registry is not None:  # None once the interpreter is tearing this module down (a store freed at exit)
        registry[env or 0] = None


_TRAMPOLINE = ctypes.cast(_trampoline, ffi.wasmtime_component_func_callback_t)
_DTOR_TRAMPOLINE = ctypes.cast(_dtor_trampoline, ffi.wasmtime_component_resource_destructor_t)
_FINALIZE = ctypes.cast(_finalize, ctypes.CFUNCTYPE(None, ctypes.c_void_p))
_registry_lock = threading.Lock()


def _register(item: Any) -> int:
    with _registry_lock:
        _REGISTRY.append(item)
        return len(_REGISTRY) - 1


def define_func(inst: wc.LinkerInstance, name: str, func: Callable[..., Any], *,
                host_resources: Mapping[int, wc.ResourceType] | None = None) -> None:
    """Define host function `name` in a linker instance; `func(*args)` returns the result value.

    Converters are built from the import's type on the first call and reused. Any exception traps the
    guest (see `take_host_error`).
    """
    inst._assert_not_locked()
    raw = name.encode()
    idx = _register(_HostFunc(name, func, host_resources))
    err = ffi.wasmtime_component_linker_instance_add_func(inst.ptr(), raw, len(raw), _TRAMPOLINE, idx, _FINALIZE)
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


def define_resource(inst: wc.LinkerInstance, name: str, type_id: int, dtor: Callable[[int], None]) -> None:
    """Define host resource type `name` as `ResourceType.host(type_id)`; `dtor(rep)` runs on guest drops."""
    inst._assert_not_locked()
    raw = name.encode()
    idx = _register((name, dtor))
    rt = wc.ResourceType.host(type_id)
    err = ffi.wasmtime_component_linker_instance_add_resource(inst.ptr(), raw, len(raw), rt.ptr(),
                                                              _DTOR_TRAMPOLINE, idx, _FINALIZE)
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


# -- calling exports --------------------------------------------------------------------------------
class ExportCall:
    """Calls one component export function with converters built once from its type.

    Build it once per export (the type is the same for every instance of a component), then call it
    with `(store, func, *args)` for any instance. Errors come out as `wasmtime.WasmtimeError`.
    """

    def __init__(self, func: wc.Func, store: Any,
                 host_resources: Mapping[int, wc.ResourceType] | None = None) -> None:
        fty = func.type(store)
        self.lowers = [lower(pt, host_resources) for _, pt in fty.params]
        rt = fty.result
        self.lift_result = lift(rt, host_resources) if rt is not None else None

    def __call__(self, store: Any, func: wc.Func, *args: Any) -> Any:
        n = len(self.lowers)
        if len(args) != n:
            raise TypeError(f"expected {n} arguments, got {len(args)}")
        ctx = ctypes.cast(store._context(), ctypes.c_void_p).value or 0
        params = (VAL * max(n, 1))()
        base = ctypes.addressof(params)
        result = VAL()
        written = 0
        try:
            for i, (f, v) in enumerate(zip(self.lowers, args, strict=True)):
                f(ctx, v, base + i * VAL_SIZE)
                written += 1
            has_result = self.lift_result is not None
            err = _func_call(ctypes.addressof(func._func), ctx, base, n,
                             ctypes.addressof(result) if has_result else None, int(has_result))
            if err:
                _raise_error(err)
            if not has_result:
                return None
            try:
                return self.lift_result(ctx, ctypes.addressof(result))  # type: ignore[misc]
            finally:
                _val_delete(ctypes.addressof(result))
        finally:
            for i in range(written):
                _val_delete(base + i * VAL_SIZE)
