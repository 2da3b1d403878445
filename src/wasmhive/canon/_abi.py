"""The canonical ABI's lifting and lowering, over guest memory read and written in place.

One closure per type is built once (per function signature) and reused for every call:
`loader(t)(cx, ptr)` and `storer(t)(cx, value, ptr)` here; the flat (core value) forms are in `_flat.py`.
`cx` is the call's `Cx`: the memory (address and size, refreshed after every `realloc`), `realloc` and
the component instance's handle table.
`list<u8>` and strings move as one `memmove`/`string_at` each, not per byte.

Values follow wasmhive's typed convention (`_values`: records, variants, options, results).
Everything a guest hands over is checked: pointers and lengths against the memory's size, alignment,
UTF-8, `char` code points, discriminants, handle indexes and their types; a bad one raises `CanonTrap`
naming it (the guest traps with that message).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import wasmhive.canon._types as T

from ..component._hostcall import HostTrap
from ._values import case_picker, case_wrapper, enum_index, field_getters, flag_bits, record_maker

__all__ = ["CanonTrap", "Cx", "lift_string", "loader", "lower_string", "storer"]

_string_at = ctypes.string_at
_memmove = ctypes.memmove
_INT: dict[str, tuple[Any, int]] = {"bool": (ctypes.c_uint8, 1), "s8": (ctypes.c_int8, 1), "u8": (ctypes.c_uint8, 1),
        "s16": (ctypes.c_int16, 2), "u16": (ctypes.c_uint16, 2), "s32": (ctypes.c_int32, 4),
        "u32": (ctypes.c_uint32, 4), "s64": (ctypes.c_int64, 8), "u64": (ctypes.c_uint64, 8),
        "f32": (ctypes.c_float, 4), "f64": (ctypes.c_double, 8), "char": (ctypes.c_uint32, 4)}


class CanonTrap(HostTrap):
    """A guest broke the canonical ABI (bad pointer, length, alignment, string, handle...): it traps."""


class Cx:
    """One lift/lower context: memory access, `realloc`, and the instance's handle table.

    `mem_base`/`mem_size` are read through `refresh()`, called before use and after anything that may
    grow the memory (the guest's `realloc`)."""

    __slots__ = ("base", "handles", "mem", "realloc", "size")

    def __init__(self, mem: Callable[[], tuple[int, int]] | None, realloc: Callable[[int, int, int, int], int] | None,
                 handles: Any) -> None:
        self.mem, self.realloc, self.handles = mem, realloc, handles
        self.base = self.size = 0
        if mem is not None:
            self.base, self.size = mem()

    def refresh(self) -> None:
        if self.mem is not None:
            self.base, self.size = self.mem()

    def check(self, ptr: int, n: int, what: str) -> int:
        """The host address of guest range [ptr, ptr+n), or a trap naming `what`."""
        if self.mem is None:
            raise CanonTrap(f"{what}: the function has no memory option")
        if ptr < 0 or n < 0 or ptr + n > self.size:
            raise CanonTrap(f"{what} out of bounds: pointer {ptr} length {n} (memory is {self.size} bytes)")
        return self.base + ptr

    def alloc(self, align: int, n: int, what: str) -> int:
        if self.realloc is None:
            raise CanonTrap(f"{what}: the function has no realloc option")
        ptr = self.realloc(0, 0, align, n)
        self.refresh()
        if ptr % align:
            raise CanonTrap(f"{what}: realloc returned pointer {ptr}, not aligned to {align}")
        self.check(ptr, n, f"{what} (realloc result)")
        return ptr


# -- memory ------------------------------------------------------------------------------------------
def loader(t: T.ValType) -> Callable[[Cx, int], Any]:
    if isinstance(t, T.Prim):
        if t.name == "string":
            return _load_string
        ctype, n = _INT[t.name]
        at: Any = ctype.from_address
        name = t.name
        if name == "bool":
            return lambda cx, p: at(cx.check(p, 1, "bool")).value != 0
        if name == "char":
            return lambda cx, p: _char(at(cx.check(p, 4, "char")).value)
        return lambda cx, p: at(cx.check(p, n, name)).value
    if isinstance(t, T.List):
        elem = t.elem
        if isinstance(elem, T.Prim) and elem.name == "u8":
            def load_bytes(cx: Cx, p: int) -> bytes:
                a = cx.check(p, 8, "list")
                ptr, n = ctypes.c_uint32.from_address(a).value, ctypes.c_uint32.from_address(a + 4).value
                return _string_at(cx.check(ptr, n, "list<u8>"), n)
            return load_bytes
        el, esz, eal = loader(elem), T.size(elem), T.align(elem)

        def load_list(cx: Cx, p: int) -> list[Any]:
            a = cx.check(p, 8, "list")
            ptr, n = ctypes.c_uint32.from_address(a).value, ctypes.c_uint32.from_address(a + 4).value
            return _lift_list(cx, el, esz, eal, ptr, n)
        return load_list
    if isinstance(t, (T.Record, T.Tuple)):
        offs = [(o, loader(f)) for o, f in _offsets(t)]
        if isinstance(t, T.Tuple):
            return lambda cx, p: tuple(ld(cx, p + o) for o, ld in offs)
        make = record_maker(t)
        return lambda cx, p: make([ld(cx, p + o) for o, ld in offs])
    if isinstance(t, T.Enum):
        dl = _disc_loader(len(t.names))
        names = t.names
        return lambda cx, p: _case(names, dl(cx, p), "enum")
    if isinstance(t, T.Flags):
        n = len(t.names)
        nbytes = T.size(t)
        fnames = t.names

        def load_flags(cx: Cx, p: int) -> set[str]:
            bits = int.from_bytes(_string_at(cx.check(p, nbytes, "flags"), nbytes), "little")
            return {fnames[i] for i in range(n) if bits >> i & 1}
        return load_flags
    if isinstance(t, (T.Own, T.Borrow)):
        lift_handle = _handle_lifter(t)
        return lambda cx, p: lift_handle(cx, ctypes.c_uint32.from_address(cx.check(p, 4, "handle")).value)
    if isinstance(t, T.Variant):
        dl = _disc_loader(len(t.cases))
        off = (T.disc_size(len(t.cases)) + T.max_case_align(t) - 1) // T.max_case_align(t) * T.max_case_align(t)
        cases = [loader(c) if c is not None else None for _, c in t.cases]
        wrap = case_wrapper(t)

        def load_variant(cx: Cx, p: int) -> Any:
            d = dl(cx, p)
            if d >= len(cases):
                raise CanonTrap(f"variant discriminant {d} out of range ({len(cases)} cases)")
            ld = cases[d]
            return wrap(d, ld(cx, p + off) if ld is not None else None)
        return load_variant
    raise TypeError(f"cannot load {t!r}")


def _offsets(t: T.Record | T.Tuple) -> list[tuple[int, T.ValType]]:
    """(offset, type) of each field, in order."""
    out, off = [], 0
    for f in (t.elems if isinstance(t, T.Tuple) else [f for _, f in t.fields]):
        al = T.align(f)
        off = (off + al - 1) // al * al
        out.append((off, f))
        off += T.size(f)
    return out


def _char(c: int) -> str:
    if c >= 0x110000 or 0xD800 <= c <= 0xDFFF:
        raise CanonTrap(f"invalid char code point {c:#x}")
    return chr(c)


def _case(names: list[str], d: int, what: str) -> str:
    if d >= len(names):
        raise CanonTrap(f"{what} discriminant {d} out of range ({len(names)} cases)")
    return names[d]


def _disc_loader(n: int) -> Callable[[Cx, int], int]:
    ctype = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32}[T.disc_size(n)]
    sz = ctypes.sizeof(ctype)
    return lambda cx, p: ctype.from_address(cx.check(p, sz, "discriminant")).value


def _load_string(cx: Cx, p: int) -> str:
    a = cx.check(p, 8, "string")
    return lift_string(cx, ctypes.c_uint32.from_address(a).value, ctypes.c_uint32.from_address(a + 4).value)


def lift_string(cx: Cx, ptr: int, n: int) -> str:
    raw = _string_at(cx.check(ptr, n, "string"), n)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CanonTrap(f"invalid UTF-8 string at pointer {ptr} (byte {e.start})") from None


def _lift_list(cx: Cx, el: Callable[[Cx, int], Any], esz: int, eal: int, ptr: int, n: int) -> list[Any]:
    if ptr % eal:
        raise CanonTrap(f"list pointer {ptr} not aligned to {eal}")
    cx.check(ptr, n * esz, "list")
    return [el(cx, ptr + i * esz) for i in range(n)]


def _handle_lifter(t: T.Own | T.Borrow) -> Callable[[Cx, int], int]:
    res, own = t.res, isinstance(t, T.Own)
    if own:
        return lambda cx, i: cx.handles.lift_own(res, i)
    return lambda cx, i: cx.handles.lift_borrow(res, i)


def storer(t: T.ValType) -> Callable[[Cx, Any, int], None]:
    if isinstance(t, T.Prim):
        if t.name == "string":
            def store_string(cx: Cx, v: Any, p: int) -> None:
                ptr, n = lower_string(cx, v)
                a = cx.check(p, 8, "string slot")
                ctypes.c_uint32.from_address(a).value = ptr
                ctypes.c_uint32.from_address(a + 4).value = n
            return store_string
        ctype, n = _INT[t.name]
        at = ctype.from_address
        name = t.name
        if name == "char":
            return lambda cx, v, p: setattr(at(cx.check(p, 4, "char")), "value", ord(v))
        if name in ("f32", "f64"):
            return lambda cx, v, p: setattr(at(cx.check(p, n, name)), "value", float(v))
        return lambda cx, v, p: setattr(at(cx.check(p, n, name)), "value", _int(v, name))
    if isinstance(t, T.List):
        lower_list = _list_lowerer(t)

        def store_list(cx: Cx, v: Any, p: int) -> None:
            ptr, n = lower_list(cx, v)
            a = cx.check(p, 8, "list slot")
            ctypes.c_uint32.from_address(a).value = ptr
            ctypes.c_uint32.from_address(a + 4).value = n
        return store_list
    if isinstance(t, (T.Record, T.Tuple)):
        offs = [(o, storer(f)) for o, f in _offsets(t)]
        getters = field_getters(t)

        def store_rec(cx: Cx, v: Any, p: int) -> None:
            for (o, st), get in zip(offs, getters(v), strict=True):
                st(cx, get, p + o)
        return store_rec
    if isinstance(t, T.Enum):
        index = enum_index(t.names)
        ds = _disc_storer(len(t.names))
        return lambda cx, v, p: ds(cx, index(v), p)
    if isinstance(t, T.Flags):
        to_bits = flag_bits(t.names)
        nbytes = T.size(t)

        def store_flags(cx: Cx, v: Any, p: int) -> None:
            bits = to_bits(v)
            _memmove(cx.check(p, nbytes, "flags"), bits.to_bytes(nbytes, "little"), nbytes)
        return store_flags
    if isinstance(t, (T.Own, T.Borrow)):
        lower_handle = _handle_lowerer(t)
        return lambda cx, v, p: setattr(ctypes.c_uint32.from_address(cx.check(p, 4, "handle")), "value",
                                        lower_handle(cx, v))
    if isinstance(t, T.Variant):
        pick = case_picker(t)
        ds = _disc_storer(len(t.cases))
        mca = T.max_case_align(t)
        off = (T.disc_size(len(t.cases)) + mca - 1) // mca * mca
        sts = [storer(c) if c is not None else None for _, c in t.cases]

        def store_variant(cx: Cx, v: Any, p: int) -> None:
            d, payload = pick(v)
            ds(cx, d, p)
            st = sts[d]
            if st is not None:
                st(cx, payload, p + off)
        return store_variant
    raise TypeError(f"cannot store {t!r}")


def _int(v: Any, name: str) -> int:
    if not isinstance(v, int):
        raise TypeError(f"expected int for {name}, got {type(v).__name__}")
    return v


def _disc_storer(n: int) -> Callable[[Cx, int, int], None]:
    ctype = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32}[T.disc_size(n)]
    sz = ctypes.sizeof(ctype)
    return lambda cx, d, p: setattr(ctype.from_address(cx.check(p, sz, "discriminant")), "value", d)


def lower_string(cx: Cx, v: Any) -> tuple[int, int]:
    if not isinstance(v, str):
        raise TypeError(f"expected str, got {type(v).__name__}")
    raw = v.encode("utf-8")
    n = len(raw)
    ptr = cx.alloc(1, n, "string") if n else 0
    if n:
        _memmove(cx.base + ptr, raw, n)
    return ptr, n


def _list_lowerer(t: T.List) -> Callable[[Cx, Any], tuple[int, int]]:
    elem = t.elem
    if isinstance(elem, T.Prim) and elem.name == "u8":
        def lower_bytes(cx: Cx, v: Any) -> tuple[int, int]:
            if not isinstance(v, (bytes, bytearray, memoryview)):
                raise TypeError(f"expected bytes, got {type(v).__name__}")
            n = len(v)
            if not n:
                return 0, 0
            ptr = cx.alloc(1, n, "list<u8>")
            _memmove(cx.base + ptr, bytes(v) if not isinstance(v, bytes) else v, n)
            return ptr, n
        return lower_bytes
    st, esz, eal = storer(elem), T.size(elem), T.align(elem)

    def lower_list(cx: Cx, v: Any) -> tuple[int, int]:
        items = list(v)
        n = len(items)
        if not n:
            return 0, 0
        ptr = cx.alloc(eal, n * esz, "list")
        for i, item in enumerate(items):
            st(cx, item, ptr + i * esz)
        return ptr, n
    return lower_list


def _handle_lowerer(t: T.Own | T.Borrow) -> Callable[[Cx, Any], int]:
    res = t.res
    if isinstance(t, T.Own):
        return lambda cx, rep: cx.handles.lower_own(res, rep)
    return lambda cx, rep: cx.handles.lower_borrow(res, rep)
