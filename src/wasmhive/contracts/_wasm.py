"""Canister module instrumentation: dirty-page tracking, exported globals, a callable start function.

The contract VM keeps one live instance per canister and must undo a trapped update or a query
cheaply. Wasm has no hook for that, so the module is rewritten once at deploy time:

* every store to memory 0 (and `memory.fill/copy/init`) first marks its 4 KiB page in a byte map that
  lives in an extra memory (`__wasmhive_map`), so after a message the host knows exactly which pages
  changed: commit copies only those into the shadow image, rollback copies only those back;
* two added functions save/load every mutable global to/from the map memory in one call
  (`__wasmhive_save_globals` / `__wasmhive_load_globals`), so globals are snapshotted without one
  host round-trip per global;
* the start section is removed and its function exported as `__wasmhive_start`, so the VM decides
  whether to run it (fresh install, upgrade with kept memory) or not (restore from a checkpoint).

Nothing else changes: function, global and table indices stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidModule
from ._leb import sleb, uleb

__all__ = ["GLOBALS_OFFSET", "MAP_EXPORT", "MEM_EXPORT", "PAGE", "TABLE_EXPORT", "ModuleInfo", "instrument"]

PAGE = 4096
SHIFT = 12
MAX_MEMORY = 1 << 32  # canister heaps are capped at 4 GiB (the IC's limit for 32-bit; ours for both)
MAP_BYTES = MAX_MEMORY // PAGE + PAGE
GLOBALS_OFFSET = MAP_BYTES
MAP_PAGES = (MAP_BYTES + 8 * 8192) // 65536 + 1
MEM_EXPORT, MAP_EXPORT, TABLE_EXPORT = "__wasmhive_mem", "__wasmhive_map", "__wasmhive_table"
START_EXPORT, SAVE_EXPORT, LOAD_EXPORT = "__wasmhive_start", "__wasmhive_save_globals", "__wasmhive_load_globals"

I32, I64, F32, F64 = 0x7F, 0x7E, 0x7D, 0x7C
_STORE_VT = {0x36: I32, 0x37: I64, 0x38: F32, 0x39: F64, 0x3A: I32, 0x3B: I32, 0x3C: I64, 0x3D: I64, 0x3E: I64}
_STORE_OP = {I32: 0x36, I64: 0x37, F32: 0x38, F64: 0x39}
_LOAD_OP = {I32: 0x28, I64: 0x29, F32: 0x2A, F64: 0x2B}


@dataclass
class ModuleInfo:
    """What the VM needs to know about a canister module."""

    memory64: bool = False
    has_memory: bool = False
    mutable_globals: list[tuple[int, int]] = field(default_factory=list)  # (global index, valtype)
    exports: list[str] = field(default_factory=list)
    custom: dict[str, bytes] = field(default_factory=dict)
    has_start: bool = False
    imports: list[tuple[str, str, int]] = field(default_factory=list)  # (module, name, kind: 0 = function)


# -- LEB128 ------------------------------------------------------------------------------------------
def _u(b: bytes, p: int) -> tuple[int, int]:
    r = s = 0
    while True:
        x = b[p]
        p += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, p


def _skip_leb(b: bytes, p: int) -> int:
    while b[p] & 0x80:
        p += 1
    return p + 1


def _name(b: bytes, p: int) -> tuple[str, int]:
    n, p = _u(b, p)
    return b[p:p + n].decode("utf-8", "replace"), p + n


def _vec(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


# -- instruction skipping ----------------------------------------------------------------------------
_NO_IMM = set(range(0x45, 0xC5)) | {0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1}
_ONE_LEB = {0x0C, 0x0D, 0x10, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0xD2, 0x41, 0x42}
# Table contents are not part of the snapshot, so instructions that change them are refused (Motoko and
# C canisters use a fixed table: callbacks are indices into it).
_TABLE_WRITES = {12, 14, 15, 17}
_TABLE_MSG = ("canisters that change their function table at run time (table.set/grow/fill/copy/init) are "
              "not supported: updates could not be rolled back atomically")
_FC_IMMS = {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2,
            15: 1, 16: 1, 17: 1}


def _memarg(b: bytes, p: int) -> tuple[int, int, int]:
    """(memory index, offset, position after) of a memarg."""
    align, p = _u(b, p)
    mem = 0
    if align & 0x40:
        mem, p = _u(b, p)
    off, p = _u(b, p)
    return mem, off, p


def _skip_blocktype(b: bytes, p: int) -> int:
    return p + 1 if b[p] == 0x40 or b[p] in (I32, I64, F32, F64, 0x7B, 0x70, 0x6F) else _skip_leb(b, p)


def _skip_simple(b: bytes, p: int, op: int) -> int:
    """Skip the immediates of a non-memory instruction starting after opcode `op`."""
    if op in _NO_IMM:
        return p
    if op in _ONE_LEB:
        return _skip_leb(b, p)
    if op in (0x02, 0x03, 0x04):
        return _skip_blocktype(b, p)
    if op == 0x0E:
        n, p = _u(b, p)
        for _ in range(n + 1):
            p = _skip_leb(b, p)
        return p
    if op in (0x11, 0x13):
        return _skip_leb(b, _skip_leb(b, p))
    if op == 0x1C:
        n, p = _u(b, p)
        return p + n
    if op == 0x43:
        return p + 4
    if op == 0x44:
        return p + 8
    if op in (0x3F, 0x40):
        return _skip_leb(b, p)
    if op == 0xD0:
        return p + 1 if b[p] >= 0x40 else _skip_leb(b, p)
    if 0x28 <= op <= 0x3E:
        return _memarg(b, p)[2]
    raise InvalidModule(f"unsupported instruction 0x{op:02x} in a canister (SIMD, threads and GC are off)")


# -- the rewrite ---------------------------------------------------------------------------------------
class _Rewriter:
    def __init__(self, mem64: bool, map_idx: int) -> None:
        self.at = I64 if mem64 else I32
        self.map_idx = map_idx
        self.const = 0x42 if mem64 else 0x41
        self.add, self.sub, self.shr = (0x7C, 0x7D, 0x88) if mem64 else (0x6A, 0x6B, 0x76)

    def _mark_range(self, d: int, n_code: bytes) -> bytes:
        """Code that fills map[d>>12 .. (d+n+4095)>>12) with 1 (d is a local, n pushed by `n_code`)."""
        lg = b"\x20" + uleb(d)
        c = self.const
        shr12 = bytes([c]) + sleb(SHIFT) + bytes([self.shr])
        return (lg + shr12 + b"\x41\x01" + lg + n_code + bytes([self.add, c]) + sleb(PAGE - 1) + bytes([self.add])
                + shr12 + lg + shr12 + bytes([self.sub]) + b"\xfc\x0b" + uleb(self.map_idx))

    def body(self, code: bytes, nparams: int) -> bytes:
        p = 0
        ngroups, p = _u(code, p)
        nlocals = 0
        for _ in range(ngroups):
            cnt, p = _u(code, p)
            nlocals += cnt
            p += 1
        base = nparams + nlocals
        li32a, li32b, li64, lf32, lf64, la1, la2, la3 = range(base, base + 8)
        vlocal = {I32: li32a, I64: li64, F32: lf32, F64: lf64}
        at = self.at
        extra = [(2, I32), (1, I64), (1, F32), (1, F64), (3, at)]
        out = bytearray(uleb(ngroups + len(extra)))
        out += code[1 if code[0] < 0x80 else _skip_leb(code, 0):p]
        for cnt, t in extra:
            out += uleb(cnt) + bytes([t])
        end = len(code)
        seg = p
        lset, lget = 0x21, 0x20
        while p < end:
            op = code[p]
            q = p + 1
            if op in _STORE_VT:
                mem, off, q2 = _memarg(code, q)
                if mem == 0:
                    out += code[seg:p]
                    vl = vlocal[_STORE_VT[op]]
                    out += bytes([lset]) + uleb(vl) + bytes([lset]) + uleb(la1) + bytes([lget]) + uleb(la1)
                    if off:
                        out += bytes([self.const]) + sleb(off if at == I64 or off < 1 << 31 else off - (1 << 32))
                        out.append(self.add)
                    out += bytes([self.const]) + sleb(SHIFT) + bytes([self.shr]) + b"\x41\x01\x3a\x40"
                    out += uleb(self.map_idx) + b"\x00"
                    out += bytes([lget]) + uleb(la1) + bytes([lget]) + uleb(vl) + code[p:q2]
                    seg = q2
                p = q2
                continue
            if op == 0xFC:
                sub, q = _u(code, q)
                if sub in (8, 10, 11):
                    if sub == 8:
                        q = _skip_leb(code, q)
                        mem, q = _u(code, q)
                    elif sub == 10:
                        mem, q = _u(code, q)
                        q = _skip_leb(code, q)
                    else:
                        mem, q = _u(code, q)
                    if mem == 0:
                        out += code[seg:p]
                        if sub == 8:  # memory.init: [d:at, s:i32, n:i32]
                            out += bytes([lset]) + uleb(li32b) + bytes([lset]) + uleb(li32a)
                            out += bytes([lset]) + uleb(la1)
                            n_code = bytes([lget]) + uleb(li32b) + (b"\xad" if at == I64 else b"")
                            out += self._mark_range(la1, n_code)
                            out += bytes([lget]) + uleb(la1) + bytes([lget]) + uleb(li32a) + bytes([lget]) + uleb(li32b)
                        else:  # copy: [d, s:at, n:at]; fill: [d, v:i32, n:at]
                            mid = la2 if sub == 10 else li32a
                            out += bytes([lset]) + uleb(la3) + bytes([lset]) + uleb(mid) + bytes([lset]) + uleb(la1)
                            out += self._mark_range(la1, bytes([lget]) + uleb(la3))
                            out += bytes([lget]) + uleb(la1) + bytes([lget]) + uleb(mid) + bytes([lget]) + uleb(la3)
                        out += code[p:q]
                        seg = q
                    p = q
                    continue
                if sub not in _FC_IMMS:
                    raise InvalidModule(f"unsupported instruction 0xfc {sub} in a canister")
                if sub in _TABLE_WRITES:
                    raise InvalidModule(_TABLE_MSG)
                for _ in range(_FC_IMMS[sub]):
                    q = _skip_leb(code, q)
                p = q
                continue
            if op == 0x26:
                raise InvalidModule(_TABLE_MSG)
            if op in (0xFD, 0xFE, 0xFB):
                raise InvalidModule(f"unsupported instruction prefix 0x{op:02x} in a canister "
                                    "(SIMD, threads and GC are not deterministic or not supported)")
            p = _skip_simple(code, q, op)
        out += code[seg:end]
        return bytes(out)


def _globals_code(mutable: list[tuple[int, int]], mem64: bool, map_idx: int, save: bool) -> bytes:
    const = 0x42 if mem64 else 0x41
    body = bytearray(b"\x00")  # no locals
    for slot, (gidx, vt) in enumerate(mutable):
        if vt not in _STORE_OP:
            continue  # reference-typed globals are not snapshotted
        addr = bytes([const]) + sleb(GLOBALS_OFFSET + 8 * slot)
        marg = b"\x40" + uleb(map_idx) + b"\x00"
        if save:
            body += addr + b"\x23" + uleb(gidx) + bytes([_STORE_OP[vt]]) + marg
        else:
            body += addr + bytes([_LOAD_OP[vt]]) + marg + b"\x24" + uleb(gidx)
    body += b"\x0b"
    return uleb(len(body)) + bytes(body)


def instrument(wasm: bytes) -> tuple[bytes, ModuleInfo]:
    """Rewrite a canister module (see the module docstring); returns (new bytes, info)."""
    if wasm[:8] != b"\0asm\x01\0\0\0":
        raise InvalidModule("not a core Wasm module (canisters are core modules, not components)")
    info = ModuleInfo()
    sections: list[tuple[int, bytes]] = []
    p = 8
    while p < len(wasm):
        sid = wasm[p]
        size, q = _u(wasm, p + 1)
        sections.append((sid, wasm[q:q + size]))
        p = q + size
    types: list[int] = []  # number of params per type
    func_types: list[int] = []
    n_func_imports = n_global_imports = n_mem_imports = 0
    n_memories = n_tables = 0
    for sid, data in sections:
        if sid == 0:
            name, q = _name(data, 0)
            info.custom[name] = data[q:]
        elif sid == 1:
            n, q = _u(data, 0)
            for _ in range(n):
                if data[q] != 0x60:
                    raise InvalidModule("canister modules may not use GC types")
                np_, q = _u(data, q + 1)
                q += np_
                nr, q = _u(data, q)
                q += nr
                types.append(np_)
        elif sid == 2:
            n, q = _u(data, 0)
            for _ in range(n):
                imod, q = _name(data, q)
                iname, q = _name(data, q)
                kind = data[q]
                info.imports.append((imod, iname, kind))
                q += 1
                if kind == 0:
                    t, q = _u(data, q)
                    func_types.append(t)
                    n_func_imports += 1
                elif kind == 1:
                    n_tables += 1
                    q += 1
                    flags = data[q]
                    q = _skip_leb(data, q + 1)
                    q = _skip_leb(data, q) if flags & 1 else q
                elif kind == 2:
                    n_mem_imports += 1
                    flags = data[q]
                    q = _skip_leb(data, q + 1)
                    q = _skip_leb(data, q) if flags & 1 else q
                elif kind == 3:
                    n_global_imports += 1
                    q += 2
                else:
                    raise InvalidModule("canister modules may not import tags")
        elif sid == 3:
            n, q = _u(data, 0)
            for _ in range(n):
                t, q = _u(data, q)
                func_types.append(t)
        elif sid == 4:
            n_tables += _u(data, 0)[0]
        elif sid == 5:
            n, q = _u(data, 0)
            n_memories = n
            if n:
                info.memory64 = bool(data[q] & 0x04)
        elif sid == 6:
            n, q = _u(data, 0)
            for i in range(n):
                vt, mut = data[q], data[q + 1]
                q += 2
                while data[q] != 0x0B:
                    op = data[q]
                    q = _skip_simple(data, q + 1, op) if op != 0xFC else _skip_leb(data, _skip_leb(data, q + 1))
                q += 1
                if mut:
                    info.mutable_globals.append((n_global_imports + i, vt))
        elif sid == 7:
            n, q = _u(data, 0)
            for _ in range(n):
                name, q = _name(data, q)
                info.exports.append(name)
                q = _skip_leb(data, q + 1)
    if n_mem_imports or n_memories > 1:
        raise InvalidModule("a canister must define at most one memory and import none")
    info.has_memory = n_memories == 1
    mem64 = info.memory64
    map_idx = 1 if info.has_memory else 0
    rw = _Rewriter(mem64, map_idx)
    n_types = len(types)
    n_funcs = len(func_types)
    out = bytearray(wasm[:8])
    start_func: int | None = None

    def emit(sid: int, data: bytes) -> None:
        out.append(sid)
        out.extend(uleb(len(data)))
        out.extend(data)

    seen = {sid for sid, _ in sections}
    unit_type = b"\x60\x00\x00"
    map_mem = bytes([0x05 if mem64 else 0x01]) + uleb(MAP_PAGES) + uleb(MAP_PAGES)
    extra_exports = [uleb(len(MAP_EXPORT)) + MAP_EXPORT.encode() + b"\x02" + uleb(map_idx),
                     uleb(len(SAVE_EXPORT)) + SAVE_EXPORT.encode() + b"\x00" + uleb(n_funcs),
                     uleb(len(LOAD_EXPORT)) + LOAD_EXPORT.encode() + b"\x00" + uleb(n_funcs + 1)]
    if info.has_memory:
        extra_exports.append(uleb(len(MEM_EXPORT)) + MEM_EXPORT.encode() + b"\x02\x00")
    if n_tables:
        extra_exports.append(uleb(len(TABLE_EXPORT)) + TABLE_EXPORT.encode() + b"\x01\x00")
    for gidx, _vt in info.mutable_globals:
        gname = f"__wasmhive_g{gidx}".encode()
        extra_exports.append(uleb(len(gname)) + gname + b"\x03" + uleb(gidx))
    order = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11]
    for sid, data in sections:
        if sid == 8:
            start_func = _u(data, 0)[0]
    if start_func is not None:
        info.has_start = True
        extra_exports.append(uleb(len(START_EXPORT)) + START_EXPORT.encode() + b"\x00" + uleb(start_func))
    # Re-emit sections; synthesize missing ones we need (type, function, memory, export, code).
    by_id: dict[int, bytes] = {}
    customs: list[bytes] = []
    for sid, data in sections:
        if sid == 0:
            customs.append(data)
        else:
            by_id[sid] = data
    for sid in order:
        data = by_id.get(sid, b"")
        if sid == 1:
            n, q = _u(data, 0) if data else (0, 0)
            emit(1, uleb(n + 1) + (data[q:] if data else b"") + unit_type)
        elif sid == 3:
            n, q = _u(data, 0) if data else (0, 0)
            emit(3, uleb(n + 2) + (data[q:] if data else b"") + uleb(n_types) * 2)
        elif sid == 5:
            n, q = _u(data, 0) if data else (0, 0)
            emit(5, uleb(n + 1) + (data[q:] if data else b"") + map_mem)
        elif sid == 7:
            n, q = _u(data, 0) if data else (0, 0)
            emit(7, uleb(n + len(extra_exports)) + (data[q:] if data else b"") + b"".join(extra_exports))
        elif sid == 8:
            continue
        elif sid == 10:
            n, q = _u(data, 0) if data else (0, 0)
            bodies = []
            for i in range(n):
                size, q = _u(data, q)
                body = data[q:q + size]
                q += size
                new = rw.body(body, types[func_types[n_func_imports + i]])
                bodies.append(uleb(len(new)) + new)
            bodies.append(_globals_code(info.mutable_globals, mem64, map_idx, True))
            bodies.append(_globals_code(info.mutable_globals, mem64, map_idx, False))
            emit(10, _vec(bodies))
        elif sid in by_id:
            emit(sid, data)
    for data in customs:
        emit(0, data)
    del seen
    return bytes(out), info
