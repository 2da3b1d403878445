"""The core-module half of the Wasm binary parser: sections, types, imports, exports, custom sections,
features used (and the section reading and custom sections components share).

Pure Python, no wasmtime: it reads core modules and components (their section lists and the core
modules embedded in them) well enough to describe them. Malformed input raises `InvalidModule`
naming the source and byte offset; code it cannot decode is reported as "unknown", not raised.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidModule
from ._wasmmodel import Component, CoreModule, Custom, Extern, Memory, Section
from ._wasmops import FEATURE_NAMES, Scan, UnknownOpcode, scan_expr, valtype
from ._wasmread import Reader, malformed

__all__ = ["COMPONENT_SECTIONS", "COMPONENT_VERSION", "CORE_VERSION", "MAGIC", "MAX_NESTING", "parse_core"]

MAGIC = b"\0asm"
CORE_VERSION = b"\x01\x00\x00\x00"
COMPONENT_VERSION = b"\x0d\x00\x01\x00"
MAX_NESTING = 32

CORE_SECTIONS = {
    0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export",
    8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag",
}
COMPONENT_SECTIONS = {
    0: "custom", 1: "core module", 2: "core instance", 3: "core type", 4: "component", 5: "instance",
    6: "alias", 7: "type", 8: "canon", 9: "start", 10: "import", 11: "export", 12: "value",
}
_EXTERN_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def _sections(r: Reader, names: dict[int, str]) -> list[tuple[Section, Reader]]:
    out = []
    while not r.eof:
        at = r.pos
        sid = r.byte()
        size = r.u32()
        body = r.sub(size)
        if sid not in names:
            raise r.error(f"unknown section id {sid}", at)
        name = names[sid]
        if sid == 0:
            name = body.name()
        out.append((Section(sid, name, at, size), body))
    return out


# -- core modules --------------------------------------------------------------------------------

def _limits(r: Reader) -> Memory:
    at = r.pos
    flags = r.byte()
    if flags & ~0x0F:
        raise r.error(f"unknown limits flags 0x{flags:02x}", at)
    is64 = bool(flags & 0x04)
    read = r.u64 if is64 else r.u32
    lo = read()
    hi = read() if flags & 0x01 else None
    page = 65536
    if flags & 0x08:
        log2 = r.u32()
        if log2 > 16:
            raise r.error(f"page size 2**{log2} is too large", at)
        page = 1 << log2
    return Memory(lo, hi, bool(flags & 0x02), is64, page)


def _table(r: Reader, s: Scan) -> str:
    # A funcref table is MVP; any other element type needs reference types (or more).
    if r.peek() == 0x70:
        r.pos += 1
        ref = "funcref"
    else:
        ref = valtype(r, s)
    lim = _limits(r)
    if lim.memory64:
        s.features.add("memory64")
    return f"(table {'i64 ' if lim.memory64 else ''}{lim.min}{'' if lim.max is None else f' {lim.max}'} {ref})"


def _global_type(r: Reader, s: Scan) -> tuple[str, bool]:
    t = valtype(r, s)
    at = r.pos
    mut = r.byte()
    if mut not in (0, 1):
        raise r.error(f"invalid global mutability 0x{mut:02x}", at)
    return (f"(mut {t})" if mut else t), bool(mut)


def _functype(r: Reader, s: Scan) -> tuple[str, int, int]:
    params = r.vec(lambda: valtype(r, s))
    results = r.vec(lambda: valtype(r, s))
    text = "(func" + (f" (param {' '.join(params)})" if params else "") + \
        (f" (result {' '.join(results)})" if results else "") + ")"
    return text, len(params), len(results)


def _comptype(r: Reader, s: Scan, m: CoreModule) -> None:
    at = r.pos
    form = r.byte()
    if form == 0x60:
        text, np, nr = _functype(r, s)
        if nr > 1:
            s.features.add("multi-value")
        m.types.append(text)
        s.types.append((np, nr))
    elif form in (0x5F, 0x5E):
        s.features.add("gc")
        for _ in range(r.count() if form == 0x5F else 1):
            if r.peek() in (0x78, 0x77):  # packed i8 / i16
                r.pos += 1
            else:
                valtype(r, s)
            r.byte()
        m.types.append("(struct ...)" if form == 0x5F else "(array ...)")
        s.types.append(None)
    else:
        raise r.error(f"unknown type form 0x{form:02x}", at)


def _subtype(r: Reader, s: Scan, m: CoreModule) -> None:
    if r.peek() in (0x50, 0x4F):
        r.pos += 1
        s.features.add("gc")
        for _ in range(r.count()):
            r.u32()
    _comptype(r, s, m)


def _type_section(r: Reader, s: Scan, m: CoreModule) -> None:
    for _ in range(r.count()):
        if r.peek() == 0x4E:
            r.pos += 1
            s.features.add("gc")
            for _ in range(r.count()):
                _subtype(r, s, m)
        else:
            _subtype(r, s, m)


def _const(r: Reader, s: Scan) -> None:
    try:
        scan_expr(r, s, const=True)
    except UnknownOpcode as e:
        raise r.error(f"unknown opcode {e.opcode} in a constant expression", e.offset) from None


def parse_core(r: Reader, start: int) -> CoreModule:
    """The core module whose preamble started at `start` (the reader is past it)."""
    m = CoreModule(start, r.end - start)
    s = Scan()
    func_types: list[int] = []  # type index of every function, imported first
    globals_mut: list[bool] = []
    last_id = 0
    for sec, body in _sections(r, CORE_SECTIONS):
        m.sections.append(sec)
        if sec.id == 0:
            m.customs.append(Custom(sec.name, sec.offset, sec.size))
            _custom(sec.name, body, m)
            continue
        # Known sections appear at most once, in order (datacount sits before code, tag before global).
        order = {12: 9.5, 13: 5.5}.get(sec.id, sec.id)
        if order <= last_id:
            raise malformed(f"section {sec.name!r} out of order or repeated", sec.offset, r.source)
        last_id = order  # type: ignore[assignment]
        if sec.id == 1:
            _type_section(body, s, m)
        elif sec.id == 2:
            for _ in range(body.count()):
                mod, name = body.name(), body.name()
                at = body.pos
                kind = body.byte()
                if kind == 0:
                    ti = body.u32()
                    func_types.append(ti)
                    ty = m.types[ti] if ti < len(m.types) else f"(type {ti})"
                elif kind == 1:
                    ty = _table(body, s)
                    m.tables.append(ty)
                elif kind == 2:
                    mem = _limits(body)
                    m.memories.append(mem)
                    ty = mem.wat()
                elif kind == 3:
                    ty, mut = _global_type(body, s)
                    globals_mut.append(mut)
                    if mut:
                        s.features.add("mutable-global")
                    m.globals.append(ty)
                elif kind == 4:
                    s.features.add("exceptions")
                    body.byte()
                    ti = body.u32()
                    ty = "(tag " + (m.types[ti][6:] if ti < len(m.types) else f"(type {ti}))")
                    m.tags.append(ty)
                else:
                    raise body.error(f"unknown import kind 0x{kind:02x}", at)
                m.imports.append(Extern(name, _EXTERN_KINDS[kind], ty, module=mod))
        elif sec.id == 3:
            defined = body.vec(body.u32)
            m.functions = len(defined)
            func_types.extend(defined)
        elif sec.id == 4:
            for _ in range(body.count()):
                if body.peek() == 0x40:  # table with an explicit initializer
                    body.pos += 1
                    if body.byte() != 0:
                        raise body.error("invalid table encoding", body.pos - 1)
                    m.tables.append(_table(body, s))
                    _const(body, s)
                else:
                    m.tables.append(_table(body, s))
            if len(m.tables) > 1:
                s.features.add("reference-types")
        elif sec.id == 5:
            for _ in range(body.count()):
                m.memories.append(_limits(body))
        elif sec.id == 6:
            for _ in range(body.count()):
                ty, mut = _global_type(body, s)
                globals_mut.append(mut)
                m.globals.append(ty)
                _const(body, s)
        elif sec.id == 7:
            for _ in range(body.count()):
                name = body.name()
                at = body.pos
                kind = body.byte()
                idx = body.u32()
                if kind not in _EXTERN_KINDS:
                    raise body.error(f"unknown export kind 0x{kind:02x}", at)
                m.exports.append(Extern(name, _EXTERN_KINDS[kind], _export_type(m, kind, idx, func_types),
                                        index=idx))
                if kind == 3 and idx < len(globals_mut) and globals_mut[idx]:
                    s.features.add("mutable-global")
        elif sec.id == 8:
            m.start = body.u32()
        elif sec.id == 9:
            m.elements = _elements(body, s)
        elif sec.id == 10:
            _code(body, s, m)
        elif sec.id == 11:
            m.data = _data(body, s)
        elif sec.id == 12:
            m.data_count = body.u32()
        elif sec.id == 13:
            s.features.add("exceptions")
            for _ in range(body.count()):
                body.byte()
                ti = body.u32()
                m.tags.append("(tag " + (m.types[ti][6:] if ti < len(m.types) else f"(type {ti}))"))
        if sec.id != 10:
            body.expect_end(f"{sec.name} section")
    if len(m.memories) > 1:
        s.features.add("multi-memory")
    for mem in m.memories:
        if mem.memory64:
            s.features.add("memory64")
        if mem.shared:
            s.features.add("threads")
        if mem.page_size != 65536:
            s.features.add("custom-page-sizes")
    m.features = [f for f in FEATURE_NAMES if f in s.features]
    m.unknown.extend(s.unknown)
    m.instructions = s.instructions
    return m


def _export_type(m: CoreModule, kind: int, idx: int, func_types: list[int]) -> str:
    if kind == 0:
        ti = func_types[idx] if idx < len(func_types) else None
        return m.types[ti] if ti is not None and ti < len(m.types) else f"(func {idx})"
    pools: list[list[Any]] = [m.tables, m.memories, m.globals, m.tags]
    pool = pools[kind - 1]
    if idx >= len(pool):
        return f"({_EXTERN_KINDS[kind]} {idx})"
    item = pool[idx]
    return item.wat() if isinstance(item, Memory) else str(item)


def _elements(r: Reader, s: Scan) -> int:
    n = r.count()
    for _ in range(n):
        at = r.pos
        flags = r.u32()
        if flags > 7:
            raise r.error(f"unknown element segment flags {flags}", at)
        if flags & 1 or flags & 4:
            s.features.add("bulk-memory" if flags & 1 else "reference-types")
        if flags in (2, 6) and r.u32() != 0:
            s.features.add("reference-types")
        if not flags & 1:
            _const(r, s)
        if flags & 4:
            if flags & 3:
                valtype(r, s)
            for _ in range(r.count()):
                _const(r, s)
        else:
            if flags & 3:
                r.byte()  # elemkind 0x00 (funcref)
            for _ in range(r.count()):
                r.u32()
    return n


def _data(r: Reader, s: Scan) -> int:
    n = r.count()
    for _ in range(n):
        at = r.pos
        flags = r.u32()
        if flags == 1:
            s.features.add("bulk-memory")
        elif flags in (0, 2):
            if flags == 2 and r.u32() != 0:
                s.features.add("multi-memory")
            _const(r, s)
        else:
            raise r.error(f"unknown data segment flags {flags}", at)
        r.bytes(r.u32())
    return n


def _code(r: Reader, s: Scan, m: CoreModule) -> None:
    for _ in range(r.count()):
        size = r.u32()
        body = r.sub(size)
        for _ in range(body.count()):
            body.u32()
            valtype(body, s)
        try:
            scan_expr(body, s)
        except UnknownOpcode as e:
            # Keep going: the body's size is known, so the next body is still found.
            if len(s.unknown) < 20:
                s.unknown.append(str(e))
    r.expect_end("code section")


# -- custom sections -----------------------------------------------------------------------------

def _custom(name: str, body: Reader, m: CoreModule | Component) -> None:
    """Read the custom sections we understand; a malformed one is noted, not fatal (they are optional)."""
    try:
        if name == "producers":
            for _ in range(body.count()):
                fname = body.name()
                values = []
                for _ in range(body.count()):
                    vname, version = body.name(), body.name()
                    values.append({"name": vname, "version": version})
                m.producers[fname] = values
        elif name == "target_features" and isinstance(m, CoreModule):
            for _ in range(body.count()):
                prefix = chr(body.byte())
                m.target_features.append(prefix + body.name())
    except InvalidModule as e:
        m.unknown.append(f"malformed {name} section: {e}")
