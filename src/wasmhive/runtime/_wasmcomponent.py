"""The component half of the Wasm binary parser: sections, embedded core modules, nested components,
top-level imports/exports, and the names the top level gives to its types (for the WIT world).

Only the top level's type index space is tracked, and only far enough to know which record,
variant, enum or flags an `(import "name" (type (eq i)))` or a type export names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidModule
from ._wasmcore import COMPONENT_SECTIONS, _custom, _functype, _global_type, _limits, _sections, _table
from ._wasmmodel import Component, CoreModule, Custom, FuncHint
from ._wasmread import Reader, malformed

__all__ = ["ParseAt", "parse_component"]

# Parses the (core module or component) binary at a reader, nested `depth` deep: the entry point
# (`_wasmparse`) passes its own, since a component embeds both kinds.
ParseAt = Callable[[Reader, int], "CoreModule | Component"]

# What we keep about a type index: a TypeKey, ("prim", name), ("val",) for list/tuple/option/result,
# ("handle",), ("func", [param valtypes], result valtype), ("instance", {func: FuncHint}),
# ("named", name, target) for a type export inside an instance type; None when unknown.
Desc = tuple[Any, ...] | None
ValT = int | str  # a type index or a primitive's name


_SORTS = {0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}
_DESC = {0x00: "core module", 0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}


def _extern_name(r: Reader) -> str:
    at = r.pos
    tag = r.byte()
    if tag not in (0x00, 0x01):
        raise r.error(f"unknown extern name encoding 0x{tag:02x}", at)
    return r.name()


def parse_component(r: Reader, start: int, depth: int, parse_at: ParseAt) -> Component:
    """The component whose preamble started at `start` (the reader is past it)."""
    c = Component(start, r.end - start)
    space: list[Desc] | None = []  # the top-level type index space; None once lost track
    for sec, body in _sections(r, COMPONENT_SECTIONS):
        c.sections.append(sec)
        if sec.id == 0:
            c.customs.append(Custom(sec.name, sec.offset, sec.size))
            _custom(sec.name, body, c)
        elif sec.id == 1:
            c.modules.append(_parse_core_at(body, parse_at))
        elif sec.id == 4:
            inner = parse_at(body, depth + 1)
            if not isinstance(inner, Component):
                raise malformed("component section holds a core module", sec.offset, r.source)
            c.components.append(inner)
        elif sec.id == 9:
            c.counts["start"] = c.counts.get("start", 0) + 1
        else:
            at = body.pos
            n = body.count()
            c.counts[sec.name] = c.counts.get(sec.name, 0) + n
            if sec.id not in (6, 7, 10, 11):
                continue
            try:
                if sec.id in (10, 11):
                    _names(body, n, c, sec.id == 11, space)
                elif space is not None:
                    for _ in range(n):
                        if sec.id == 7:
                            space.append(_deftype(body))
                        elif _alias(body) == 0x03:  # only type aliases add a type index
                            space.append(None)
            except InvalidModule as e:
                # Newer encodings we do not know: keep what we have, note the rest, stop naming types.
                c.unknown.append(f"{sec.name} section at offset {at}: {e}")
                space = None
    return c


def _parse_core_at(body: Reader, parse_at: ParseAt) -> CoreModule:
    out = parse_at(body, 0)
    if not isinstance(out, CoreModule):
        raise body.error("core module section holds a component", body.pos)
    return out


def _names(r: Reader, n: int, c: Component, export: bool, space: list[Desc] | None) -> None:
    out = c.exports if export else c.imports
    for _ in range(n):
        name = _extern_name(r)
        at = r.pos
        kind = r.byte()
        ref: int | None = None
        if export:
            if kind == 0x00:
                r.byte()
                kind_name = "core module"
            else:
                kind_name = _SORTS.get(kind, "")
            if not kind_name:
                raise r.error(f"unknown sort 0x{kind:02x}", at)
            exported = r.u32()
            ref = exported if kind_name == "type" else None
            if r.byte() == 0x01:
                ascribed, idx = _externdesc(r)
                if ascribed == "instance":
                    ref = idx
        else:
            r.pos = at
            kind_name, ref = _externdesc(r)
        out.append((name, kind_name))
        if space is None:
            continue
        desc = space[ref] if ref is not None and ref < len(space) else None
        if kind_name == "type":
            # A type import/export adds an index; `eq i` / an exported index keeps i's shape.
            space.append(desc)
            if desc is not None and desc[0] in _NOMINAL:
                c.type_names.setdefault((desc[0], desc[1]), name)
        elif kind_name == "instance" and desc is not None and desc[0] == "instance":
            c.func_hints[name], c.field_hints[name] = desc[1], desc[2]


def _externdesc(r: Reader) -> tuple[str, int | None]:
    """The kind of an extern descriptor and its type index (`(type (eq i))`, `(instance (type i))`)."""
    at = r.pos
    kind = r.byte()
    if kind not in _DESC:
        raise r.error(f"unknown extern kind 0x{kind:02x}", at)
    idx: int | None = None
    if kind == 0x00:
        r.byte()
        r.u32()
    elif kind in (0x02, 0x03):
        bound = r.byte()
        if bound == 0x00:
            idx = r.u32()
            if kind == 0x02:
                idx = None
        elif kind == 0x02 and bound == 0x01:
            _cvaltype(r)
        elif not (kind == 0x03 and bound == 0x01):
            raise r.error(f"unknown bound 0x{bound:02x}", at + 1)
    else:
        idx = r.u32()
    return _DESC[kind], idx


# -- component types (walked to keep the type index space in step) ----------------------------------

_PRIM = {
    0x7F: "bool", 0x7E: "s8", 0x7D: "u8", 0x7C: "s16", 0x7B: "u16", 0x7A: "s32", 0x79: "u32", 0x78: "s64",
    0x77: "u64", 0x76: "f32", 0x75: "f64", 0x74: "char", 0x73: "string", 0x64: "error-context",
}
_NOMINAL = ("record", "variant", "enum", "flags")
_MAX_DEPTH = 64  # nested component/instance/module types; real ones nest 2-3 deep


def _cvaltype(r: Reader) -> ValT:
    b = r.peek()
    if b in _PRIM:
        r.pos += 1
        return _PRIM[b]
    return r.u32()


def _optional(r: Reader, read: Any) -> Any:
    at = r.pos
    flag = r.byte()
    if flag == 0x01:
        return read(r)
    if flag != 0x00:
        raise r.error(f"invalid optional flag 0x{flag:02x}", at)
    return None


def _defvaltype(r: Reader, form: int, at: int) -> Desc:
    if form in _PRIM:
        return ("prim", _PRIM[form])
    if form == 0x72:
        names, fields = [], []
        for _ in range(r.count()):
            names.append(r.name())
            fields.append(_cvaltype(r))
        return ("record", tuple(names), fields)
    if form == 0x71:
        names = []
        for _ in range(r.count()):
            names.append(r.name())
            _optional(r, _cvaltype)
            _optional(r, Reader.u32)  # `refines`, always absent in current encoders
        return ("variant", tuple(names))
    if form in (0x6E, 0x6D):
        return ("flags" if form == 0x6E else "enum", tuple(r.vec(r.name)))
    if form in (0x70, 0x6B):
        _cvaltype(r)
    elif form == 0x67:
        _cvaltype(r)
        r.u32()
    elif form == 0x6F:
        for _ in range(r.count()):
            _cvaltype(r)
    elif form == 0x6A:
        _optional(r, _cvaltype)
        _optional(r, _cvaltype)
    elif form in (0x69, 0x68):
        r.u32()
        return ("handle",)
    elif form in (0x66, 0x65):
        _optional(r, _cvaltype)
    else:
        raise r.error(f"unknown component type form 0x{form:02x}", at)
    return ("val",)


def _deftype(r: Reader, depth: int = 0) -> Desc:
    at = r.pos
    if depth > _MAX_DEPTH:
        raise r.error("types nested too deeply", at)
    form = r.byte()
    if form in (0x40, 0x43):  # (async) func
        params: list[ValT] = []
        for _ in range(r.count()):
            r.name()
            params.append(_cvaltype(r))
        res = r.byte()
        result: ValT | None = None
        if res == 0x00:
            result = _cvaltype(r)
        elif res == 0x01:
            for _ in range(r.count()):
                r.name()
                _cvaltype(r)
        else:
            raise r.error(f"invalid result list 0x{res:02x}", r.pos - 1)
        return ("func", params, result)
    if form in (0x41, 0x42):  # component / instance type: its own type index space
        table: list[Desc] = []
        funcs: dict[str, FuncHint] = {}
        records: dict[str, list[str | None]] = {}
        for _ in range(r.count()):
            _decl(r, depth, table, funcs, records, component=form == 0x41)
        return ("instance", funcs, records) if form == 0x42 else None
    if form in (0x3F, 0x3E):  # resource (rep i32) (dtor f)? [callback]
        r.byte()
        _optional(r, Reader.u32)
        if form == 0x3E:
            _optional(r, Reader.u32)
        return None
    return _defvaltype(r, form, at)


def _decl(r: Reader, depth: int, table: list[Desc], funcs: dict[str, FuncHint],
          records: dict[str, list[str | None]], *, component: bool) -> None:
    at = r.pos
    tag = r.byte()
    if tag == 0x00:
        _core_type(r, depth + 1)
    elif tag == 0x01:
        table.append(_deftype(r, depth + 1))
    elif tag == 0x02:
        if _alias(r) == 0x03:
            table.append(None)
    elif tag == 0x04 or (tag == 0x03 and component):
        name = _extern_name(r)
        kind, idx = _externdesc(r)
        desc = table[idx] if idx is not None and idx < len(table) else None
        if kind == "type":
            table.append(None if idx is None else ("named", name, desc))
            if desc is not None and desc[0] == "record":
                records[name] = [_alias_name(table, f) for f in desc[2]]
        elif kind == "func" and desc is not None and desc[0] == "func":
            funcs[name] = ([_alias_name(table, p) for p in desc[1]],
                           None if desc[2] is None else _alias_name(table, desc[2]))
    else:
        raise r.error(f"unknown declaration 0x{tag:02x}", at)


def _alias_name(table: list[Desc], vt: ValT) -> str | None:
    """The export name of a type alias (`type filesize = u64`) a value type refers to directly."""
    if not isinstance(vt, int) or vt >= len(table):
        return None
    desc = table[vt]
    if desc is None or desc[0] != "named":
        return None
    target = desc[2]
    while target is not None and target[0] == "named":
        target = target[2]
    # An unknown target (an outer alias: a type `use`d from another interface) may be plain too; the
    # renderer only swaps in names that are declared aliases in scope, so guessing here is safe.
    return str(desc[1]) if target is None or target[0] in ("prim", "val") else None


def _alias(r: Reader) -> int:
    """Skip an alias; return its sort (0x03 = type)."""
    at = r.pos
    sort = r.byte()
    if sort == 0x00:
        r.byte()
    target = r.byte()
    if target in (0x00, 0x01):
        r.u32()
        r.name()
    elif target == 0x02:
        r.u32()
        r.u32()
    else:
        raise r.error(f"unknown alias target 0x{target:02x}", at + 1)
    return sort


def _core_type(r: Reader, depth: int = 0) -> None:
    from ._wasmops import Scan

    at = r.pos
    if depth > _MAX_DEPTH:
        raise r.error("types nested too deeply", at)
    form = r.byte()
    scan = Scan()
    if form == 0x60:
        _functype(r, scan)
        return
    if form != 0x50:
        raise r.error(f"unknown core type form 0x{form:02x}", at)
    for _ in range(r.count()):  # module type declarations
        d_at = r.pos
        tag = r.byte()
        if tag in (0x00, 0x03):
            if tag == 0x00:
                r.name()
            r.name()
            kind = r.byte()
            if kind == 0x00:
                r.u32()
            elif kind == 0x01:
                _table(r, scan)
            elif kind == 0x02:
                _limits(r)
            elif kind == 0x03:
                _global_type(r, scan)
            elif kind == 0x04:
                r.byte()
                r.u32()
            else:
                raise r.error(f"unknown import kind 0x{kind:02x}", r.pos - 1)
        elif tag == 0x01:
            _core_type(r, depth + 1)
        elif tag == 0x02:
            r.byte()
            r.byte()
            r.u32()
            r.u32()
        else:
            raise r.error(f"unknown module type declaration 0x{tag:02x}", d_at)
