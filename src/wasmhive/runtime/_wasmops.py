"""An instruction decoder for Wasm code bodies, used to detect which features a module uses.

It decodes every immediate (LEB128 indices, block types, memargs with the multi-memory bit,
br_table, lane indices, 0xFB/0xFC/0xFD/0xFE prefixed opcodes) so that scanning stays in step;
an opcode it does not know stops the scan of that body and is reported, not raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ._wasmread import Reader

__all__ = ["FEATURE_NAMES", "Scan", "UnknownOpcode", "scan_expr", "valtype"]

# Feature names (wasm-tools/wasmparser spelling) in the order we print them.
FEATURE_NAMES = [
    "mutable-global", "sign-extension", "nontrapping-float-to-int", "multi-value", "bulk-memory",
    "reference-types", "simd", "relaxed-simd", "threads", "multi-memory", "memory64", "tail-call",
    "extended-const", "exceptions", "legacy-exceptions", "function-references", "gc", "wide-arithmetic",
    "custom-page-sizes",
]

_NUM = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
# Abstract heap types in their one-byte form: (name, feature that introduced it).
_HEAP = {
    0x70: ("func", "reference-types"), 0x6F: ("extern", "reference-types"),
    0x6E: ("any", "gc"), 0x6D: ("eq", "gc"), 0x6C: ("i31", "gc"), 0x6B: ("struct", "gc"),
    0x6A: ("array", "gc"), 0x73: ("nofunc", "gc"), 0x72: ("noextern", "gc"), 0x71: ("none", "gc"),
    0x69: ("exn", "exceptions"), 0x74: ("noexn", "exceptions"),
}


class UnknownOpcode(Exception):
    """An opcode the decoder does not know; the body's scan stops there."""

    def __init__(self, opcode: str, offset: int) -> None:
        self.opcode = opcode
        self.offset = offset
        super().__init__(f"unknown opcode {opcode} at offset {offset} (0x{offset:x})")


@dataclass
class Scan:
    """What scanning code found: features used and, per feature, how many instructions."""

    features: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)
    instructions: int = 0
    # Function types by index (params, results) so block types can be judged multi-value.
    types: list[tuple[int, int] | None] = field(default_factory=list)


def heaptype(r: Reader, scan: Scan | None) -> str:
    """A heap type: an abstract one-byte type or a (s33) type index."""
    b = r.peek()
    if b in _HEAP:
        r.pos += 1
        name, feature = _HEAP[b]
        if scan is not None and feature != "reference-types":
            scan.features.add(feature)
        return name
    start = r.pos
    idx = r.s33()
    if idx < 0:
        raise r.error(f"unknown heap type 0x{b:02x}", start)
    if scan is not None:
        scan.features.add("function-references")
    return str(idx)


def valtype(r: Reader, scan: Scan | None = None) -> str:
    """A value type as WAT text (`i32`, `v128`, `funcref`, `(ref null 3)`); notes the features it needs."""
    start = r.pos
    b = r.byte()
    if b in _NUM:
        if b == 0x7B and scan is not None:
            scan.features.add("simd")
        return _NUM[b]
    if b in _HEAP:
        name, feature = _HEAP[b]
        if scan is not None:
            scan.features.add(feature)
        return f"{name}ref"
    if b in (0x63, 0x64):
        ht = heaptype(r, scan)
        if scan is not None:
            scan.features.add("function-references" if ht.isdigit() or ht in ("func", "extern") else "gc")
        return f"(ref {'null ' if b == 0x63 else ''}{ht})"
    raise r.error(f"unknown value type 0x{b:02x}", start)


def _blocktype(r: Reader, s: Scan) -> None:
    b = r.peek()
    if b == 0x40:
        r.pos += 1
        return
    if b in _NUM or b in _HEAP or b in (0x63, 0x64):
        valtype(r, s)
        return
    start = r.pos
    idx = r.s33()
    if idx < 0:
        raise r.error(f"invalid block type 0x{b:02x}", start)
    sig = s.types[idx] if idx < len(s.types) else None
    if sig is None or sig[0] > 0 or sig[1] > 1:
        s.features.add("multi-value")


def _memarg(r: Reader, s: Scan) -> None:
    flags = r.u32()
    if flags & 0x40 and r.u32() != 0:
        s.features.add("multi-memory")
    r.u64()  # offset: u64 so memory64 offsets decode too


def _memidx(r: Reader, s: Scan) -> None:
    if r.u32() != 0:
        s.features.add("multi-memory")


def _u32(r: Reader, s: Scan) -> None:
    r.u32()


def _u32x2(r: Reader, s: Scan) -> None:
    r.u32()
    r.u32()


def _none(r: Reader, s: Scan) -> None:
    return None


# Immediates of single-byte opcodes, and the feature each implies (None: MVP).
Imm = Callable[[Reader, Scan], None]


def _br_table(r: Reader, s: Scan) -> None:
    for _ in range(r.count()):
        r.u32()
    r.u32()


def _call_indirect(r: Reader, s: Scan) -> None:
    r.u32()
    if r.u32() != 0:
        s.features.add("reference-types")


def _select_t(r: Reader, s: Scan) -> None:
    for _ in range(r.count()):
        valtype(r, s)


def _try_table(r: Reader, s: Scan) -> None:
    _blocktype(r, s)
    for _ in range(r.count()):
        kind = r.byte()
        if kind in (0, 1):
            r.u32()  # tag
        elif kind not in (2, 3):
            raise r.error(f"unknown catch kind {kind}", r.pos - 1)
        r.u32()  # label


def _heap(r: Reader, s: Scan) -> None:
    heaptype(r, s)


_SINGLE: dict[int, tuple[Imm, str | None]] = {
    0x00: (_none, None), 0x01: (_none, None), 0x02: (_blocktype, None), 0x03: (_blocktype, None),
    0x04: (_blocktype, None), 0x05: (_none, None), 0x06: (_blocktype, "legacy-exceptions"),
    0x07: (_u32, "legacy-exceptions"), 0x08: (_u32, "exceptions"), 0x09: (_u32, "legacy-exceptions"),
    0x0A: (_none, "exceptions"), 0x0B: (_none, None), 0x0C: (_u32, None), 0x0D: (_u32, None),
    0x0E: (_br_table, None), 0x0F: (_none, None), 0x10: (_u32, None), 0x11: (_call_indirect, None),
    0x12: (_u32, "tail-call"), 0x13: (_u32x2, "tail-call"), 0x14: (_u32, "function-references"),
    0x15: (_u32, "tail-call"), 0x18: (_u32, "legacy-exceptions"), 0x19: (_none, "legacy-exceptions"),
    0x1A: (_none, None), 0x1B: (_none, None), 0x1C: (_select_t, "reference-types"),
    0x1F: (_try_table, "exceptions"),
    0x20: (_u32, None), 0x21: (_u32, None), 0x22: (_u32, None), 0x23: (_u32, None), 0x24: (_u32, None),
    0x25: (_u32, "reference-types"), 0x26: (_u32, "reference-types"),
    0x3F: (_memidx, None), 0x40: (_memidx, None),
    0x41: (lambda r, s: (r.s32(), None)[1], None), 0x42: (lambda r, s: (r.s64(), None)[1], None),
    0x43: (lambda r, s: (r.bytes(4), None)[1], None), 0x44: (lambda r, s: (r.bytes(8), None)[1], None),
    0xD0: (_heap, "reference-types"), 0xD1: (_none, "reference-types"), 0xD2: (_u32, "reference-types"),
    0xD3: (_none, "gc"), 0xD4: (_none, "function-references"), 0xD5: (_u32, "function-references"),
    0xD6: (_u32, "function-references"),
}
for _op in range(0x28, 0x3F):
    _SINGLE[_op] = (_memarg, None)
for _op in range(0x45, 0xC0):
    _SINGLE[_op] = (_none, None)
for _op in range(0xC0, 0xC5):
    _SINGLE[_op] = (_none, "sign-extension")


def _fc(sub: int, r: Reader, s: Scan) -> None:
    if sub <= 7:
        s.features.add("nontrapping-float-to-int")
    elif sub == 8:
        s.features.add("bulk-memory")
        r.u32()
        _memidx(r, s)
    elif sub in (9, 13):
        s.features.add("bulk-memory")
        r.u32()
    elif sub == 10:
        s.features.add("bulk-memory")
        _memidx(r, s)
        _memidx(r, s)
    elif sub == 11:
        s.features.add("bulk-memory")
        _memidx(r, s)
    elif sub in (12, 14):
        s.features.add("bulk-memory")
        a, b = r.u32(), r.u32()
        if sub == 14 and (a or b):
            s.features.add("reference-types")
    elif sub in (15, 16, 17):
        s.features.add("reference-types")
        r.u32()
    elif 19 <= sub <= 22:
        s.features.add("wide-arithmetic")
    else:
        raise UnknownOpcode(f"0xfc {sub}", r.pos)


def _fd(sub: int, r: Reader, s: Scan) -> None:
    s.features.add("simd")
    if sub <= 11 or sub in (92, 93):
        _memarg(r, s)
    elif sub in (12, 13):
        r.bytes(16)
    elif 21 <= sub <= 34:
        r.byte()
    elif 84 <= sub <= 91:
        _memarg(r, s)
        r.byte()
    elif 0x100 <= sub <= 0x113:
        s.features.add("relaxed-simd")
    elif sub > 0xFF:
        raise UnknownOpcode(f"0xfd {sub}", r.pos)


def _fe(sub: int, r: Reader, s: Scan) -> None:
    s.features.add("threads")
    if sub == 0x03:
        r.byte()
    elif sub <= 0x02 or 0x10 <= sub <= 0x4E:
        _memarg(r, s)
    else:
        raise UnknownOpcode(f"0xfe {sub}", r.pos)


def _fb(sub: int, r: Reader, s: Scan) -> None:
    s.features.add("gc")
    if sub in (0, 1, 6, 7, 11, 12, 13, 14, 16):
        r.u32()
    elif sub in (2, 3, 4, 5, 8, 9, 10, 17, 18, 19):
        r.u32()
        r.u32()
    elif sub in (15, 26, 27, 28, 29, 30):
        pass
    elif 20 <= sub <= 23:
        heaptype(r, s)
    elif sub in (24, 25):
        r.byte()
        r.u32()
        heaptype(r, s)
        heaptype(r, s)
    else:
        raise UnknownOpcode(f"0xfb {sub}", r.pos)


_PREFIXED = {0xFB: _fb, 0xFC: _fc, 0xFD: _fd, 0xFE: _fe}


# Fast-path classes for the hot loop over code bodies: 1 = no immediate, 2 = one LEB128 immediate,
# 3 = memarg (two LEB128s, unless the multi-memory bit is set), 4/5 = 4/8 raw bytes. 0 = full decode.
_FAST = bytearray(256)
for _op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, *range(0x45, 0xC0)):
    _FAST[_op] = 1
for _op in (0x0C, 0x0D, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x41, 0x42):
    _FAST[_op] = 2
for _op in range(0x28, 0x3F):
    _FAST[_op] = 3
_FAST[0x43], _FAST[0x44] = 4, 5


def _skip_leb(r: Reader, data: bytes, pos: int, end: int) -> int:
    start = pos
    while True:
        if pos >= end:
            raise r.error("unexpected end inside a LEB128 integer", start)
        b = data[pos]
        pos += 1
        if b < 0x80:
            return pos
        if pos - start >= 10:
            raise r.error("LEB128 integer longer than 10 bytes", start)


def scan_expr(r: Reader, s: Scan, *, const: bool = False) -> None:
    """Decode instructions until the end of `r` (a code body) or, for a const expr, its final `end`.

    Raises `UnknownOpcode` for an opcode it does not know and `InvalidModule` for truncation.
    """
    if const:
        _scan_const(r, s)
        return
    data, end, fast = r.data, r.end, _FAST
    pos = r.pos
    count = 0
    try:
        while pos < end:
            op = data[pos]
            k = fast[op]
            count += 1
            if k == 1:
                pos += 1
            elif k == 2:
                pos = _skip_leb(r, data, pos + 1, end)
            elif k == 3 and pos + 1 < end and data[pos + 1] < 0x40:
                pos = _skip_leb(r, data, pos + 2, end)
            elif k >= 4:
                pos += 5 if k == 4 else 9
                if pos > end:
                    raise r.error("unexpected end inside a constant", end)
            else:
                r.pos = pos + 1
                if op in _PREFIXED:
                    _PREFIXED[op](r.u32(), r, s)
                else:
                    entry = _SINGLE.get(op)
                    if entry is None:
                        raise UnknownOpcode(f"0x{op:02x}", pos)
                    imm, feature = entry
                    imm(r, s)
                    if feature:
                        s.features.add(feature)
                pos = r.pos
    finally:
        s.instructions += count
    r.pos = pos


def _scan_const(r: Reader, s: Scan) -> None:
    depth = 0
    while not r.eof:
        start = r.pos
        op = r.byte()
        s.instructions += 1
        if op in _PREFIXED:
            _PREFIXED[op](r.u32(), r, s)
            continue
        entry = _SINGLE.get(op)
        if entry is None:
            raise UnknownOpcode(f"0x{op:02x}", start)
        imm, feature = entry
        imm(r, s)
        if feature:
            s.features.add(feature)
        if op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
            s.features.add("extended-const")
        if op in (0x02, 0x03, 0x04, 0x06, 0x1F):
            depth += 1
        elif op == 0x0B:
            if depth == 0:
                return
            depth -= 1
    raise r.error("constant expression has no `end`")
