"""A component's WIT world, rendered as WIT text or JSON from the type model (`_model.read_world`).

    world = world_of(component, engine)      # wasmtime.component.Component + its Engine
    print(world.to_wit())                    # package root:component; world root { ... }
    json.dumps(world.to_json())

wasmtime's reflection is structural: a record, variant, enum, flags or resource has a name only where
an instance type exports it by name. Those names are collected first; every later reference to the
same type (same model `ident`) is written by that name (with a `use` where it lives in another interface). A nominal type
that was never named gets a made-up name (`record-1`) so the text stays valid WIT.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import wasmtime
import wasmtime.component as wc

from . import _model as m

__all__ = ["Function", "Interface", "TypeDef", "World", "WorldItem", "render_type", "world_of"]

_IFACE_RE = re.compile(r"^(?P<ns>[a-z][a-z0-9-]*):(?P<pkg>[a-z][a-z0-9-]*(?::[a-z][a-z0-9-]*)*)/"
                       r"(?P<iface>[^@]+)(?:@(?P<ver>.+))?$")
_FUNC_RE = re.compile(r"^\[(method|static)\]([^.]+)\.(.+)$|^\[constructor\](.+)$")
WORLD = "world"


@dataclass
class Function:
    """A WIT function; methods, static functions and constructors belong to `resource`."""

    name: str
    params: list[tuple[str, str]]
    result: str | None
    kind: str = "freestanding"  # freestanding | method | static | constructor
    resource: str | None = None
    export_name: str = ""  # the name in the component binary, e.g. "[method]stream.write"
    raw: Any = field(default=None, repr=False, compare=False)  # its `_model.FuncSig`

    def signature(self) -> str:
        params = self.params[1:] if self.kind == "method" else self.params
        text = "func(" + ", ".join(f"{_id(n)}: {t}" for n, t in params) + ")"
        return text + (f" -> {self.result}" if self.result and self.kind != "constructor" else "")

    def to_wit(self) -> str:
        if self.kind == "constructor":
            return "constructor(" + ", ".join(f"{_id(n)}: {t}" for n, t in self.params) + ");"
        prefix = "static " if self.kind == "static" else ""
        return f"{_id(self.name)}: {prefix}{self.signature()};"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "resource": self.resource, "export_name": self.export_name,
                "params": [{"name": n, "type": t} for n, t in self.params], "result": self.result}


@dataclass
class TypeDef:
    """A named type: record/variant/enum/flags/resource, or an alias (`type x = T`)."""

    name: str
    kind: str
    fields: list[tuple[str, str | None]] = field(default_factory=list)  # fields, cases, enum/flag names
    target: str | None = None  # alias target
    methods: list[Function] = field(default_factory=list)

    def to_wit(self) -> list[str]:
        name = _id(self.name)
        if self.kind == "alias":
            return [f"type {name} = {self.target};"]
        if self.kind == "resource":
            if not self.methods:
                return [f"resource {name};"]
            return [f"resource {name} {{", *(f"  {m.to_wit()}" for m in self.methods), "}"]
        if self.kind == "record":
            body = [f"  {_id(n)}: {t}," for n, t in self.fields]
        elif self.kind == "variant":
            body = [f"  {_id(n)}({t})," if t else f"  {_id(n)}," for n, t in self.fields]
        else:
            body = [f"  {_id(n)}," for n, _ in self.fields]
        return [f"{self.kind} {name} {{", *body, "}"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "alias":
            out["target"] = self.target
        elif self.kind == "resource":
            out["methods"] = [m.to_json() for m in self.methods]
        elif self.kind in ("record", "variant"):
            key = "fields" if self.kind == "record" else "cases"
            out[key] = [{"name": n, "type": t} for n, t in self.fields]
        else:
            out["names"] = [n for n, _ in self.fields]
        return out


@dataclass
class Interface:
    """An imported or exported instance: its `use`s, named types and functions."""

    name: str
    uses: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # interface -> [(name, as)]
    types: list[TypeDef] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)

    @property
    def package(self) -> str | None:
        """`ns:pkg@version` for a package interface name, None for a plain (inline) one."""
        m = _IFACE_RE.match(self.name)
        return f"{m['ns']}:{m['pkg']}" + (f"@{m['ver']}" if m["ver"] else "") if m else None

    @property
    def short_name(self) -> str:
        m = _IFACE_RE.match(self.name)
        return m["iface"] if m else self.name

    def body(self) -> list[str]:
        lines = [f"use {_use_path(src, self)}.{{{', '.join(_use_item(n, a) for n, a in items)}}};"
                 for src, items in self.uses.items()]
        return _blocks(lines, self.types, [f.to_wit() for f in self.functions])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "package": self.package,
                "uses": [{"from": src, "name": n, "as": a} for src, items in self.uses.items() for n, a in items],
                "types": [t.to_json() for t in self.types], "functions": [f.to_json() for f in self.functions]}


@dataclass
class WorldItem:
    """One import or export of the world: an interface, a function, a type, or something WIT can't say."""

    name: str
    kind: str  # interface | func | type | component | module
    interface: Interface | None = None
    function: Function | None = None
    typedef: TypeDef | None = None

    def to_wit(self, direction: str) -> list[str]:
        if self.interface is not None:
            if self.interface.package:
                return [f"{direction} {self.name};"]
            body = self.interface.body()
            return [f"{direction} {_id(self.name)}: interface {{", *(f"  {ln}" if ln else "" for ln in body), "}"]
        if self.function is not None:
            return [f"{direction} {_id(self.name)}: {self.function.signature()};"]
        if self.kind == "type":
            return []  # defined among the world's types
        return [f"// {direction} {self.name}: {self.kind} (not expressible in WIT)"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.interface is not None:
            out["interface"] = self.interface.to_json()
        if self.function is not None:
            out["function"] = self.function.to_json()
        return out


@dataclass
class World:
    """A component's world: what it imports and exports, with every type written out."""

    name: str = "root"
    imports: list[WorldItem] = field(default_factory=list)
    exports: list[WorldItem] = field(default_factory=list)
    uses: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    types: list[TypeDef] = field(default_factory=list)  # named at world level (or made up)

    def interfaces(self) -> list[Interface]:
        return [i.interface for i in (*self.imports, *self.exports) if i.interface is not None]

    def to_wit(self) -> str:
        """The world as WIT text: `package root:component; world root {...}` plus each package's interfaces."""
        uses = [f"use {src}.{{{', '.join(_use_item(n, a) for n, a in items)}}};" for src, items in self.uses.items()]
        items = [ln for direction, entries in (("import", self.imports), ("export", self.exports))
                 for item in entries for ln in item.to_wit(direction)]
        lines = ["package root:component;", "", f"world {_id(self.name)} {{"]
        lines.extend(f"  {ln}" if ln else "" for ln in _blocks(uses, self.types, items))
        lines.append("}")
        packages: dict[str, list[Interface]] = {}
        for iface in self.interfaces():
            if iface.package and iface not in packages.get(iface.package, []):
                packages.setdefault(iface.package, []).append(iface)
        for pkg, ifaces in packages.items():
            lines += ["", f"package {pkg} {{"]
            for n, iface in enumerate(ifaces):
                if n:
                    lines.append("")
                lines.append(f"  interface {_id(iface.short_name)} {{")
                lines.extend(f"    {ln}" if ln else "" for ln in iface.body())
                lines.append("  }")
            lines.append("}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "imports": [i.to_json() for i in self.imports],
                "exports": [e.to_json() for e in self.exports],
                "uses": [{"from": src, "name": n, "as": a} for src, items in self.uses.items() for n, a in items],
                "types": [t.to_json() for t in self.types]}


def world_of(component: wc.Component, engine: wasmtime.Engine, name: str = "root", *,
             type_names: Mapping[tuple[str, tuple[str, ...]], str] | None = None,
             func_hints: Mapping[str, Mapping[str, tuple[list[str | None], str | None]]] | None = None,
             field_hints: Mapping[str, Mapping[str, list[str | None]]] | None = None) -> World:
    """Build the `World` of a compiled component from its type model (`_model.read_world`).

    `type_names` maps a nominal type's shape (`("record", field names)`, `("variant", case names)`,
    `("enum"|"flags", names)`) to the name the binary gives it at the top level (wasmtime does not
    report top-level type imports); `wasmhive.runtime._wasmparse` reads them (`Component.type_names`).
    `func_hints`/`field_hints` (`Component.func_hints`/`.field_hints`) name the aliases of plain types
    (`type filesize = u64`) that function parameters/results and record fields refer to directly.
    """
    b = _Builder(type_names)
    b.func_hints, b.field_hints = func_hints or {}, field_hints or {}
    return b.build(m.read_world(component, engine), name)


def render_type(t: wc.ValType) -> str:
    """A value type as WIT, without names for records/variants/enums/flags (written structurally)."""
    return _Builder().render(m.read_world_type(t), WORLD)


# -- building ------------------------------------------------------------------------------------

_Nominal = m.Record | m.Variant | m.Enum | m.Flags
_NOMINAL = (m.Record, m.Variant, m.Enum, m.Flags)


@dataclass
class _Named:
    owner: str
    name: str
    type: _Nominal | m.Resource  # compared by class and `ident`


class _Builder:
    def __init__(self, hints: Mapping[tuple[str, tuple[str, ...]], str] | None = None) -> None:
        self.hints = dict(hints or {})
        self.func_hints: Mapping[str, Mapping[str, tuple[list[str | None], str | None]]] = {}
        self.field_hints: Mapping[str, Mapping[str, list[str | None]]] = {}
        self.named: list[_Named] = []
        self.scopes: dict[str, Interface] = {}
        self.world = World()
        self.anon = 0

    def build(self, model: m.WorldSig, name: str) -> World:
        self.world.name = name
        self.scopes[WORLD] = Interface(WORLD, self.world.uses, self.world.types)
        plan = [(items, key, item) for items, entries in ((self.world.imports, model.imports),
                                                          (self.world.exports, model.exports))
                for key, item in entries]
        # Names first (every interface), so references anywhere find them.
        for _, key, item in plan:
            if isinstance(item, m.Instance):
                self.scopes[key] = Interface(key)
                for mname, mty in item.members:
                    if isinstance(mty, (m.Resource, *_NOMINAL)):
                        self.named.append(_Named(key, mname, mty))
        for items, key, item in plan:
            items.append(self._item(key, item))
        return self.world

    def _item(self, key: str, item: m.Item) -> WorldItem:
        if isinstance(item, m.Instance):
            return WorldItem(key, "interface", interface=self._interface(key, item))
        if isinstance(item, m.FuncSig):
            return WorldItem(key, "func", function=self._function(key, item, WORLD))
        if isinstance(item, m.Opaque):
            return WorldItem(key, item.kind)
        if isinstance(item, m.Resource):
            self.named.append(_Named(WORLD, key, item))
            td = TypeDef(key, "resource")
            self.world.types.append(td)
            return WorldItem(key, "type", typedef=td)
        self._define(WORLD, key, item)
        return WorldItem(key, "type")

    def _interface(self, key: str, inst: m.Instance) -> Interface:
        iface = self.scopes[key]
        resources: dict[str, TypeDef] = {}
        # Types first, so functions can refer to aliases and attach to resources in any export order.
        for mname, mty in inst.members:
            if not isinstance(mty, (m.FuncSig, m.Opaque, m.Instance)):
                td = self._define(key, mname, mty)
                if td is not None and td.kind == "resource":
                    resources[mname] = td
        for mname, mty in inst.members:
            if isinstance(mty, m.FuncSig):
                fn = self._function(mname, mty, key)
                if fn.resource and fn.resource in resources:
                    resources[fn.resource].methods.append(fn)
                else:
                    iface.functions.append(fn)
        return iface

    def _define(self, owner: str, name: str, ty: m.WitType | m.Resource) -> TypeDef | None:
        """Add `name` to `owner`: a `use` when an equal named type lives in an earlier interface."""
        scope = self.scopes[owner]
        if isinstance(ty, (m.Resource, *_NOMINAL)):
            first = self._lookup(ty, None)
            if first is not None and first.owner != owner:
                scope.uses.setdefault(first.owner, []).append((first.name, name))
                return None
            if first is not None and first.name != name:
                td = TypeDef(name, "alias", target=_id(first.name))
                scope.types.append(td)
                return td
            td = TypeDef(name, "resource") if isinstance(ty, m.Resource) else self._nominal(name, ty, owner)
        else:
            td = TypeDef(name, "alias", target=self.render(ty, owner))
        scope.types.append(td)
        return td

    def _nominal(self, name: str, ty: _Nominal, owner: str) -> TypeDef:
        if isinstance(ty, m.Record):
            fields = [(n, self.render(t, owner)) for n, t in ty.fields]
            return TypeDef(name, "record", self._hinted(owner, fields, self.field_hints.get(owner, {}).get(name)))
        if isinstance(ty, m.Variant):
            return TypeDef(name, "variant",
                           [(n, None if t is None else self.render(t, owner)) for n, t in ty.cases])
        return TypeDef(name, "enum" if isinstance(ty, m.Enum) else "flags", [(n, None) for n in ty.names])

    def _lookup(self, ty: _Nominal | m.Resource, owner: str | None) -> _Named | None:
        """The named type equal to `ty`: preferably one visible in `owner`, else its first definition."""
        first = None
        cls, ident = type(ty), ty.ident
        for n in self.named:
            if type(n.type) is cls and n.type.ident == ident:
                if owner is None or n.owner == owner:
                    return n
                if first is None:
                    first = n
        return first

    def _hinted(self, owner: str, items: list[tuple[str, str]], hints: list[str | None] | None) -> list[Any]:
        """Swap a plain type for the alias the binary used (`u64` -> `filesize`) where that alias is in scope."""
        if not hints or len(hints) != len(items):
            return items
        return [(n, _id(h) if h and self._alias_visible(owner, h) else t) for (n, t), h in zip(items, hints, strict=True)]

    def _alias_visible(self, owner: str, alias: str) -> bool:
        scope = self.scopes[owner]
        return any(t.name == alias and t.kind == "alias" for t in scope.types) or any(
            a == alias for items in scope.uses.values() for _, a in items)

    def _function(self, name: str, sig: m.FuncSig, owner: str) -> Function:
        params = [(n, self.render(t, owner)) for n, t in sig.params]
        result = None if sig.result is None else self.render(sig.result, owner)
        hint = self.func_hints.get(owner, {}).get(name)
        if hint is not None:
            params = self._hinted(owner, params, hint[0])
            if result is not None and hint[1] and self._alias_visible(owner, hint[1]):
                result = _id(hint[1])
        m_ = _FUNC_RE.match(name)
        if m_ and m_.group(1):
            return Function(m_.group(3), params, result, m_.group(1), m_.group(2), name, raw=sig)
        if m_:
            return Function(m_.group(4), params, result, "constructor", m_.group(4), name, raw=sig)
        return Function(name, params, result, export_name=name, raw=sig)

    def render(self, t: m.WorldType, owner: str) -> str:
        """WIT text for a value type as seen from `owner` (adding `use`s and made-up names as needed)."""
        if isinstance(t, m.Prim):
            return t.name
        if isinstance(t, m.ListOf):
            return f"list<{self.render(t.elem, owner)}>"
        if isinstance(t, m.TupleOf):
            return "tuple<" + ", ".join(self.render(e, owner) for e in t.elems) + ">"
        if isinstance(t, m.OptionOf):
            return f"option<{self.render(t.inner, owner)}>"
        if isinstance(t, m.ResultOf):
            ok, err = t.ok, t.err
            if ok is None and err is None:
                return "result"
            if err is None:
                return f"result<{self.render(ok, owner)}>"  # type: ignore[arg-type]
            return f"result<{'_' if ok is None else self.render(ok, owner)}, {self.render(err, owner)}>"
        if isinstance(t, (m.FutureOf, m.StreamOf)):
            kind = "future" if isinstance(t, m.FutureOf) else "stream"
            return kind if t.payload is None else f"{kind}<{self.render(t.payload, owner)}>"
        if isinstance(t, (m.Own, m.Borrow)):
            assert t.ident is not None  # the world reader always sets it
            rname = self._name_of(m.Resource(t.ident), owner, "resource")
            return rname if isinstance(t, m.Own) else f"borrow<{rname}>"
        if isinstance(t, _NOMINAL):
            return self._name_of(t, owner, _kind_word(t))
        return t.wit()  # error-context

    def _name_of(self, ty: _Nominal | m.Resource, owner: str, word: str) -> str:
        if owner not in self.scopes:  # structural rendering without a world (render_type)
            if isinstance(ty, m.Record):
                return "record { " + ", ".join(f"{n}: {self.render(t, owner)}" for n, t in ty.fields) + " }"
            if isinstance(ty, (m.Enum, m.Flags)):
                return f"{word} {{ " + ", ".join(ty.names) + " }"
            return word
        hit = self._lookup(ty, owner)
        if hit is not None and hit.owner != owner:
            local = next((a for n, a in self.scopes[owner].uses.get(hit.owner, []) if n == hit.name), None)
            if local is None:
                # Visible under a different local name already? Reuse it; otherwise `use` it.
                self.scopes[owner].uses.setdefault(hit.owner, []).append((hit.name, hit.name))
                local = hit.name
            return _id(local)
        if hit is not None:
            return _id(hit.name)
        # Not named by any instance: use the binary's top-level name for this shape, else make one
        # up; define it where it is first used.
        made = self.hints.pop(_shape(ty), "")
        if not made or any(n.owner == owner and n.name == made for n in self.named):
            self.anon += 1
            made = f"{word}-{self.anon}"
        self.named.append(_Named(owner, made, ty))
        scope = self.scopes[owner]
        scope.types.append(TypeDef(made, "resource") if isinstance(ty, m.Resource)
                           else self._nominal(made, ty, owner))
        return made


def _shape(t: _Nominal | m.Resource) -> tuple[str, tuple[str, ...]]:
    if isinstance(t, m.Record):
        return ("record", tuple(n for n, _ in t.fields))
    if isinstance(t, m.Variant):
        return ("variant", tuple(n for n, _ in t.cases))
    if isinstance(t, (m.Enum, m.Flags)):
        return (_kind_word(t), tuple(t.names))
    return ("", ())


def _kind_word(t: _Nominal) -> str:
    return {m.Record: "record", m.Variant: "variant", m.Enum: "enum", m.Flags: "flags"}[type(t)]


_KEYWORDS = {
    "use", "type", "func", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64", "char",
    "bool", "string", "option", "result", "list", "tuple", "record", "variant", "enum", "flags", "resource",
    "own", "borrow", "static", "interface", "world", "import", "export", "package", "include", "with",
    "as", "from", "constructor", "future", "stream", "async", "_",
}


def _id(name: str) -> str:
    """A WIT identifier, `%`-escaped when it is a keyword."""
    return f"%{name}" if name in _KEYWORDS else name


def _blocks(uses: list[str], types: list[TypeDef], rest: list[str]) -> list[str]:
    """Uses, then type definitions, then the rest, with blank lines between groups and around
    multi-line definitions (the layout `wasm-tools component wit` uses)."""
    lines = list(uses)
    for t in types:
        block = t.to_wit()
        if lines and (len(block) > 1 or lines[-1].endswith("}") or lines[-1].startswith("use ")):
            lines.append("")
        lines.extend(block)
    if lines and rest:
        lines.append("")
    lines.extend(rest)
    return lines


def _use_item(name: str, alias: str) -> str:
    return _id(name) if name == alias else f"{_id(name)} as {_id(alias)}"


def _use_path(src: str, user: Interface) -> str:
    m = _IFACE_RE.match(src)
    if not m:
        return _id(src)
    same_pkg = user.package is not None and user.package == Interface(src).package
    return _id(m["iface"]) if same_pkg else src
