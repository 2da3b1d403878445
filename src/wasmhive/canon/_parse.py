"""Component binary → instantiation plan: the index spaces of one (non-nested) component.

Reads the sections in order and keeps, for every index space, what each index refers to: core modules
(their bytes), core instances (`instantiate` with args, or inline exports), core items aliased from core
instances, `canon lift/lower` with their options, `canon resource.new/drop/rep`, imported instances and
their types, and the exports. Anything these guests do not need (nested components, `start`, values,
the async canonical ABI) is refused with `InvalidModule` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import wasmhive.canon._types as T

from ..errors import InvalidModule
from ..runtime._wasmread import Reader
from ._parse_types import SORTS, TypeReader, refuse

__all__ = ["CanonFunc", "CoreInstance", "Lifted", "Opts", "Plan", "parse"]

_CORE_SORTS = {0x00: "func", 0x01: "table", 0x02: "memory", 0x03: "global", 0x04: "tag", 0x10: "type",
               0x11: "module", 0x12: "instance"}


@dataclass
class Opts:
    """Canonical options: memory and functions are core indexes (None when absent)."""

    memory: int | None = None
    realloc: int | None = None
    post_return: int | None = None
    encoding: str = "utf8"


@dataclass
class CanonFunc:
    """A core function made by `canon`: kind "lower" (of component func `func`), or "resource.new",
    "resource.drop", "resource.rep" (of `res`)."""

    kind: str
    func: int = -1
    opts: Opts = field(default_factory=Opts)
    res: T.Resource | None = None


@dataclass
class Lifted:
    """A component function made by `canon lift` of core function `core`."""

    core: int
    type: T.FuncType
    opts: Opts


@dataclass
class ImportedFunc:
    """A component function exported by an imported instance (served by the host)."""

    iface: str
    name: str
    type: T.FuncType


@dataclass
class CoreInstance:
    """`module` instantiated with `args` (name → core instance index), or inline `exports`."""

    module: int | None = None
    args: dict[str, int] = field(default_factory=dict)
    exports: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (core sort, index)


@dataclass
class Plan:
    """Everything needed to instantiate the component; indexes refer to the lists here."""

    modules: list[bytes] = field(default_factory=list)
    core_instances: list[CoreInstance] = field(default_factory=list)
    # core sort -> index -> ("alias", core instance, name) | ("canon", CanonFunc)
    core: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {s: [] for s in ("func", "table", "memory", "global", "tag")})
    funcs: list[Lifted | ImportedFunc] = field(default_factory=list)
    types: list[Any] = field(default_factory=list)
    instances: list[tuple[str, Any]] = field(default_factory=list)  # ("import", (name, InstanceType)) | ("inline", {name: (sort, idx)})
    imports: dict[str, T.InstanceType] = field(default_factory=dict)
    shims: list[dict[str, tuple[str, str]]] = field(default_factory=list)  # export -> (sort, import name)
    exports: dict[str, tuple[str, int]] = field(default_factory=dict)

    def export_func(self, iface_prefix: str, name: str) -> tuple[str, Lifted]:
        """The lifted function `name` of the exported instance whose name starts with `iface_prefix`."""
        for ename, (sort, idx) in self.exports.items():
            if ename.startswith(iface_prefix) and sort == "instance":
                kind, body = self.instances[idx]
                if kind == "inline" and name in body and body[name][0] == "func":
                    f = self.funcs[body[name][1]]
                    if isinstance(f, Lifted):
                        return ename, f
        raise InvalidModule(f"this component exports no {iface_prefix}.x instance with a lifted `{name}`")


class _Parser(TypeReader):
    def __init__(self, data: bytes, source: str) -> None:
        self.r = Reader(data, source=source)
        self.p = Plan()

    # -- types ----------------------------------------------------------------------------------------
    # -- sections -------------------------------------------------------------------------------------
    def parse(self) -> Plan:
        r, p = self.r, self.p
        if r.bytes(4) != b"\0asm":
            raise r.error("not a Wasm binary", 0)
        version = r.bytes(4)
        if version[2:] != b"\x01\x00":
            raise r.error("not a component (a core module?)", 4)
        while not r.eof:
            sid = r.byte()
            size = r.u32()
            body = r.sub(size)
            if sid == 0:
                continue
            if sid == 1:
                p.modules.append(body.bytes(size))
                continue
            if sid == 4:
                p.shims.append(self.shim(body))
                continue
            if sid == 9:
                raise refuse("component start functions", body, body.pos)
            if sid == 3:
                continue  # core types: only used by nested module types, which we refuse where it matters
            handler = {2: self.core_instance, 5: self.instance, 6: self.alias, 7: self.type_, 8: self.canon,
                       10: self.import_, 11: self.export}.get(sid)
            if handler is None:
                raise body.error(f"unknown component section {sid}", body.pos)
            for _ in range(body.count()):
                handler(body)
        return p

    def core_instance(self, r: Reader) -> None:
        at = r.pos
        kind = r.byte()
        if kind == 0x00:
            m = r.u32()
            args = {}
            for _ in range(r.count()):
                name = r.name()
                if r.byte() != 0x12:
                    raise r.error("core instantiate argument is not an instance", at)
                args[name] = r.u32()
            if m >= len(self.p.modules):
                raise r.error(f"core module {m} out of range", at)
            self.p.core_instances.append(CoreInstance(module=m, args=args))
        elif kind == 0x01:
            exports = {}
            for _ in range(r.count()):
                name = r.name()
                sort = _CORE_SORTS.get(r.byte(), "?")
                exports[name] = (sort, r.u32())
            self.p.core_instances.append(CoreInstance(exports=exports))
        else:
            raise r.error(f"unknown core instance form 0x{kind:02x}", at)

    def shim(self, outer: Reader) -> dict[str, tuple[str, str]]:
        """A nested component that only re-exports what it imports (wit-component's type shims): its
        exports as (sort, name of the import each one passes through)."""
        at = outer.pos
        r = outer.sub(outer.end - outer.pos)
        if r.bytes(4) != b"\0asm" or r.bytes(4)[2:] != b"\x01\x00":
            raise r.error("nested component is not a component", at)
        types: list[Any] = []
        origin: dict[str, list[str | None]] = {"type": [], "func": []}
        exports: dict[str, tuple[str, str]] = {}
        while not r.eof:
            sid, size = r.byte(), r.u32()
            body = r.sub(size)
            if sid == 0:
                continue
            if sid not in (7, 10, 11):
                raise refuse("nested components other than re-exporting shims", body, body.pos)
            for _ in range(body.count()):
                if sid == 7:
                    types.append(self.deftype(body, types))
                    origin["type"].append(None)
                    continue
                iat = body.pos
                name = self.externname(body)
                if sid == 10:
                    desc, ref = self.externdesc(body, types)
                    if desc == "type":
                        if ref is None:
                            ref = T.Resource(name)
                        types.append(ref)
                    origin[desc].append(name)
                else:
                    sort, idx = self.sort(body), body.u32()
                    if body.byte() == 0x01:
                        self.externdesc(body, types)
                    if sort not in origin or idx >= len(origin[sort]):
                        raise refuse(f"shim export of {sort} {idx}", body, iat)
                    src = origin[sort][idx]
                    if src is not None:
                        exports[name] = (sort, src)
                    origin[sort].append(src)
                    if sort == "type":
                        T.named(types[idx], name)
                        types.append(types[idx])
        return exports

    def instance(self, r: Reader) -> None:
        at = r.pos
        kind = r.byte()
        body: dict[str, tuple[str, int]] = {}
        if kind == 0x00:
            c = r.u32()
            args: dict[str, tuple[str, int]] = {}
            for _ in range(r.count()):
                name = r.name()
                sort = self.sort(r)
                args[name] = (sort, r.u32())
            if c >= len(self.p.shims):
                raise r.error(f"component {c} out of range", at)
            for ename, (sort, src) in self.p.shims[c].items():
                if src not in args or args[src][0] != sort:
                    raise r.error(f"instantiation of component {c} lacks {sort} argument {src}", at)
                body[ename] = args[src]
                self._name_type(sort, args[src][1], ename)
            self.p.instances.append(("inline", body))
            return
        if kind != 0x01:
            raise r.error(f"unknown instance form 0x{kind:02x}", at)
        for _ in range(r.count()):
            name = self.externname(r)
            sort = self.sort(r)
            body[name] = (sort, r.u32())
            self._name_type(sort, body[name][1], name)
        self.p.instances.append(("inline", body))

    def _name_type(self, sort: str, idx: int, name: str) -> None:
        if sort == "type" and idx < len(self.p.types):
            T.named(self.p.types[idx], name)

    def sort(self, r: Reader) -> str:
        at = r.pos
        b = r.byte()
        if b == 0x00:
            return "core " + _CORE_SORTS.get(r.byte(), "?")
        s = SORTS.get(b)
        if s is None:
            raise r.error(f"unknown sort 0x{b:02x}", at)
        return s

    def alias(self, r: Reader) -> None:
        at = r.pos
        sort = self.sort(r)
        target = r.byte()
        p = self.p
        if target == 0x01:  # core export of a core instance
            inst, name = r.u32(), r.name()
            if not sort.startswith("core ") or sort[5:] not in p.core:
                raise refuse(f"alias of core {sort}", r, at)
            if inst >= len(p.core_instances):
                raise r.error(f"core instance {inst} out of range", at)
            p.core[sort[5:]].append(("alias", inst, name))
        elif target == 0x00:  # export of a component instance
            inst, name = r.u32(), r.name()
            if inst >= len(p.instances):
                raise r.error(f"instance {inst} out of range", at)
            kind, body = p.instances[inst]
            if kind == "import":
                iname, itype = body
                item = itype.exports.get(name)
                if item is None:
                    raise r.error(f"instance {iname} has no export {name}", at)
                if sort == "type":
                    p.types.append(item)
                elif sort == "func" and isinstance(item, T.FuncType):
                    p.funcs.append(ImportedFunc(iname, name, item))
                else:
                    raise refuse(f"alias of {sort} {name} from an imported instance", r, at)
            else:
                ref = body.get(name)
                if ref is None or ref[0] != sort:
                    raise r.error(f"inline instance {inst} has no {sort} export {name}", at)
                space = {"func": p.funcs, "type": p.types, "instance": p.instances}.get(sort)
                if space is None:
                    raise refuse(f"alias of {sort}", r, at)
                space.append(space[ref[1]])
        elif target == 0x02:
            ct, idx = r.u32(), r.u32()
            raise refuse(f"outer alias {ct}/{idx} at component level", r, at)
        else:
            raise r.error(f"unknown alias target 0x{target:02x}", at)

    def type_(self, r: Reader) -> None:
        self.p.types.append(self.deftype(r, self.p.types))

    def opts(self, r: Reader) -> Opts:
        o = Opts()
        for _ in range(r.count()):
            at = r.pos
            b = r.byte()
            if b in (0x00, 0x01, 0x02):
                o.encoding = ("utf8", "utf16", "latin1+utf16")[b]
            elif b == 0x03:
                o.memory = r.u32()
            elif b == 0x04:
                o.realloc = r.u32()
            elif b == 0x05:
                o.post_return = r.u32()
            else:
                raise refuse("async canonical options (async, callback)", r, at)
        return o

    def canon(self, r: Reader) -> None:
        at = r.pos
        kind = r.byte()
        p = self.p
        if kind == 0x00:
            if r.byte() != 0x00:
                raise r.error("bad canon lift encoding", at)
            core, opts, ti = r.u32(), self.opts(r), r.u32()
            ft = p.types[ti] if ti < len(p.types) else None
            if not isinstance(ft, T.FuncType):
                raise r.error(f"canon lift type {ti} is not a function type", at)
            p.funcs.append(Lifted(core, ft, opts))
        elif kind == 0x01:
            if r.byte() != 0x00:
                raise r.error("bad canon lower encoding", at)
            f = r.u32()
            opts = self.opts(r)
            if f >= len(p.funcs):
                raise r.error(f"canon lower of function {f}: out of range", at)
            p.core["func"].append(("canon", CanonFunc("lower", f, opts)))
        elif kind in (0x02, 0x03, 0x04):
            ti = r.u32()
            res = p.types[ti] if ti < len(p.types) else None
            if not isinstance(res, T.Resource):
                raise r.error(f"canon resource builtin on type {ti}, which is not a resource", at)
            name = {0x02: "resource.new", 0x03: "resource.drop", 0x04: "resource.rep"}[kind]
            p.core["func"].append(("canon", CanonFunc(name, res=res)))
        else:
            raise refuse(f"canon builtin 0x{kind:02x} (async canonical ABI, threads)", r, at)

    def import_(self, r: Reader) -> None:
        at = r.pos
        name = self.externname(r)
        desc, ref = self.externdesc(r, self.p.types)
        if desc != "instance":
            raise refuse(f"importing a {desc} ({name}); only instances", r, at)
        for res in getattr(ref, "fresh", []):
            res.name = f"{name}#{res.name}"
        self.p.instances.append(("import", (name, ref)))
        self.p.imports[name] = ref

    def export(self, r: Reader) -> None:
        at = r.pos
        name = self.externname(r)
        sort = self.sort(r)
        idx = r.u32()
        if r.byte() == 0x01:
            self.externdesc(r, self.p.types)
        space: list[Any] | None = {"func": self.p.funcs, "instance": self.p.instances,
                                   "type": self.p.types}.get(sort)  # type: ignore[assignment]
        if space is None or idx >= len(space):
            raise refuse(f"export of {sort} {idx}", r, at)
        self.p.exports[name] = (sort, idx)
        self._name_type(sort, idx, name)
        space.append(space[idx])  # an export adds an index in its sort's space


def parse(data: bytes, source: str = "<bytes>") -> Plan:
    """The instantiation plan of component binary `data`."""
    return _Parser(data, source).parse()
