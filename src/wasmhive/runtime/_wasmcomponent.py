"""The component half of the Wasm binary parser: sections, embedded core modules, nested components,
top-level imports/exports, and the names the top level gives to its types (for the WIT world).

Only the top level's type index space is tracked, and only far enough to know which record,
variant, enum or flags an `(import "name" (type (eq i)))` or a type export names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidModule
from ._wasmparse import (
    COMPONENT_SECTIONS,
    CoreModule,
    Custom,
    Section,
    _custom,
    _parse_at,
    _sections,
)
from ._wasmread import Reader, malformed

__all__ = ["Component", "TypeKey"]

# A nominal type by its shape: ("record", field names) / ("variant", case names) / ("enum"|"flags", names).
TypeKey = tuple[str, tuple[str, ...]]


@dataclass
class Component:
    """What a component contains: its sections, embedded core modules and nested components."""

    offset: int
    size: int
    sections: list[Section] = field(default_factory=list)
    modules: list[CoreModule] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    imports: list[tuple[str, str]] = field(default_factory=list)
    exports: list[tuple[str, str]] = field(default_factory=list)
    customs: list[Custom] = field(default_factory=list)
    producers: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    # Names the top level gives its records/variants/enums/flags (by shape), for the WIT world.
    type_names: dict[TypeKey, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "component", "offset": self.offset, "size": self.size,
            "sections": [s.to_json() for s in self.sections], "counts": self.counts,
            "imports": [{"name": n, "kind": k} for n, k in self.imports],
            "exports": [{"name": n, "kind": k} for n, k in self.exports],
            "custom_sections": [c.to_json() for c in self.customs], "producers": self.producers,
            "modules": [m.to_json() for m in self.modules],
            "components": [c.to_json() for c in self.components],
            "unknown": self.unknown,
        }



_SORTS = {0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}
_DESC = {0x00: "core module", 0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}


def _extern_name(r: Reader) -> str:
    at = r.pos
    tag = r.byte()
    if tag not in (0x00, 0x01):
        raise r.error(f"unknown extern name encoding 0x{tag:02x}", at)
    return r.name()


def _parse_component(r: Reader, start: int, depth: int) -> Component:
    c = Component(start, r.end - start)
    space: list[TypeKey | None] | None = []  # the top-level type index space; None once lost track
    for sec, body in _sections(r, COMPONENT_SECTIONS):
        c.sections.append(sec)
        if sec.id == 0:
            c.customs.append(Custom(sec.name, sec.offset, sec.size))
            _custom(sec.name, body, c)
        elif sec.id == 1:
            c.modules.append(_parse_core_at(body))
        elif sec.id == 4:
            inner = _parse_at(body, depth + 1)
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
                        space.append(_deftype(body) if sec.id == 7 else _alias(body))
            except InvalidModule as e:
                # Newer encodings we do not know: keep what we have, note the rest, stop naming types.
                c.unknown.append(f"{sec.name} section at offset {at}: {e}")
                space = None
    return c


def _parse_core_at(body: Reader) -> CoreModule:
    out = _parse_at(body, 0)
    if not isinstance(out, CoreModule):
        raise body.error("core module section holds a component", body.pos)
    return out


def _names(r: Reader, n: int, c: Component, export: bool, space: list[TypeKey | None] | None) -> None:
    out = c.exports if export else c.imports
    for _ in range(n):
        name = _extern_name(r)
        at = r.pos
        kind = r.byte()
        bound: int | None = None
        if export:
            if kind == 0x00:
                r.byte()
                kind_name = "core module"
            else:
                kind_name = _SORTS.get(kind, "")
            if not kind_name:
                raise r.error(f"unknown sort 0x{kind:02x}", at)
            bound = r.u32()
            if r.byte() == 0x01:
                _externdesc(r)
        else:
            r.pos = at
            kind_name, bound = _externdesc(r)
        out.append((name, kind_name))
        if kind_name == "type" and space is not None:
            # A type import/export adds an index; `eq i` / an exported index keeps i's shape.
            key = space[bound] if bound is not None and bound < len(space) else None
            space.append(key)
            if key is not None:
                c.type_names.setdefault(key, name)


def _externdesc(r: Reader) -> tuple[str, int | None]:
    """The kind of an extern descriptor and, for `(type (eq i))`, i."""
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
        r.u32()
    return _DESC[kind], idx


# -- component types (walked to keep the type index space in step) ----------------------------------

_PRIM = {*range(0x73, 0x80), 0x64}
_MAX_DEPTH = 64  # nested component/instance/module types; real ones nest 2-3 deep


def _cvaltype(r: Reader) -> None:
    if r.peek() in _PRIM:
        r.pos += 1
    else:
        r.u32()


def _optional(r: Reader, read: Any) -> None:
    at = r.pos
    flag = r.byte()
    if flag == 0x01:
        read(r)
    elif flag != 0x00:
        raise r.error(f"invalid optional flag 0x{flag:02x}", at)


def _defvaltype(r: Reader, form: int, at: int) -> TypeKey | None:
    if form in _PRIM:
        return None
    if form == 0x72:
        names = []
        for _ in range(r.count()):
            names.append(r.name())
            _cvaltype(r)
        return ("record", tuple(names))
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
    elif form in (0x66, 0x65):
        _optional(r, _cvaltype)
    else:
        raise r.error(f"unknown component type form 0x{form:02x}", at)
    return None


def _deftype(r: Reader, depth: int = 0) -> TypeKey | None:
    at = r.pos
    if depth > _MAX_DEPTH:
        raise r.error("types nested too deeply", at)
    form = r.byte()
    if form in (0x40, 0x43):  # (async) func
        for _ in range(r.count()):
            r.name()
            _cvaltype(r)
        res = r.byte()
        if res == 0x00:
            _cvaltype(r)
        elif res == 0x01:
            for _ in range(r.count()):
                r.name()
                _cvaltype(r)
        else:
            raise r.error(f"invalid result list 0x{res:02x}", r.pos - 1)
    elif form in (0x41, 0x42):  # component / instance type
        for _ in range(r.count()):
            _decl(r, depth, component=form == 0x41)
    elif form in (0x3F, 0x3E):  # resource (rep i32) (dtor f)? [callback]
        r.byte()
        _optional(r, Reader.u32)
        if form == 0x3E:
            _optional(r, Reader.u32)
    else:
        return _defvaltype(r, form, at)
    return None


def _decl(r: Reader, depth: int, *, component: bool) -> None:
    at = r.pos
    tag = r.byte()
    if tag == 0x00:
        _core_type(r, depth + 1)
    elif tag == 0x01:
        _deftype(r, depth + 1)
    elif tag == 0x02:
        _alias(r)
    elif tag == 0x04 or (tag == 0x03 and component):
        _extern_name(r)
        _externdesc(r)
    else:
        raise r.error(f"unknown declaration 0x{tag:02x}", at)


def _alias(r: Reader) -> TypeKey | None:
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
    return None


def _core_type(r: Reader, depth: int = 0) -> None:
    from ._wasmops import Scan
    from ._wasmparse import _functype, _global_type, _limits, _table

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
