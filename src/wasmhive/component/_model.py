"""A plain, immutable model of WIT types and component signatures, read once from wasmtime's type objects.

wasmtime-py re-reads a function's type through the C API on every call; we read it once per
component into these dataclasses, and every converter, error message, `wasmhive wit`, the CLI
argument parser and `bindgen` work from the model.

Two readers share one walk: the call path (`read_type`, `read_func`, `read_signature`) and the world
reader (`read_world`, `read_world_type`) behind `wasmhive wit`. Only the world reader gives nominal
types an identity (`ident`, for `use`s across interfaces; it costs C comparisons with earlier types)
and reads `stream`/`future`/`error-context`, which no converter can carry.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, cast

import wasmtime
import wasmtime.component as wc

from ._restypes import host_id

__all__ = [
    "AsyncType",
    "Borrow",
    "Enum",
    "ErrorContext",
    "Flags",
    "FuncSig",
    "FutureOf",
    "Instance",
    "InterfaceSig",
    "Item",
    "ListOf",
    "Opaque",
    "OptionOf",
    "Own",
    "Prim",
    "Record",
    "Resource",
    "ResultOf",
    "Signature",
    "StreamOf",
    "TupleOf",
    "Variant",
    "WitType",
    "WorldSig",
    "WorldType",
    "read_func",
    "read_signature",
    "read_type",
    "read_world",
    "read_world_type",
    "wit_name",
]

PRIMS = ("bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string")
INT_RANGES = {
    "s8": (-(1 << 7), (1 << 7) - 1), "u8": (0, (1 << 8) - 1),
    "s16": (-(1 << 15), (1 << 15) - 1), "u16": (0, (1 << 16) - 1),
    "s32": (-(1 << 31), (1 << 31) - 1), "u32": (0, (1 << 32) - 1),
    "s64": (-(1 << 63), (1 << 63) - 1), "u64": (0, (1 << 64) - 1),
}


@dataclass(frozen=True)
class Prim:
    """bool, integers, floats, char, string."""

    name: str

    def wit(self) -> str:
        return self.name


@dataclass(frozen=True)
class ListOf:
    elem: WitType

    def wit(self) -> str:
        return f"list<{self.elem.wit()}>"


@dataclass(frozen=True)
class TupleOf:
    elems: tuple[WitType, ...]

    def wit(self) -> str:
        return f"tuple<{', '.join(e.wit() for e in self.elems)}>"


@dataclass(frozen=True)
class Record:
    fields: tuple[tuple[str, WitType], ...]
    name: str | None = field(default=None, compare=False)
    # World reader only: the identity of the wasmtime type (equal types share it) and the
    # interface that exports it by `name`.
    ident: int | None = field(default=None, compare=False)
    owner: str | None = field(default=None, compare=False)

    def wit(self) -> str:
        return self.name or "record { " + ", ".join(f"{n}: {t.wit()}" for n, t in self.fields) + " }"


@dataclass(frozen=True)
class Variant:
    cases: tuple[tuple[str, WitType | None], ...]
    name: str | None = field(default=None, compare=False)
    # World reader only (see Record).
    ident: int | None = field(default=None, compare=False)
    owner: str | None = field(default=None, compare=False)

    def wit(self) -> str:
        return self.name or "variant { " + ", ".join(
            n if t is None else f"{n}({t.wit()})" for n, t in self.cases) + " }"


@dataclass(frozen=True)
class Enum:
    names: tuple[str, ...]
    name: str | None = field(default=None, compare=False)
    # World reader only (see Record).
    ident: int | None = field(default=None, compare=False)
    owner: str | None = field(default=None, compare=False)

    def wit(self) -> str:
        return self.name or "enum { " + ", ".join(self.names) + " }"


@dataclass(frozen=True)
class Flags:
    names: tuple[str, ...]
    name: str | None = field(default=None, compare=False)
    # World reader only (see Record).
    ident: int | None = field(default=None, compare=False)
    owner: str | None = field(default=None, compare=False)

    def wit(self) -> str:
        return self.name or "flags { " + ", ".join(self.names) + " }"


@dataclass(frozen=True)
class OptionOf:
    inner: WitType

    def wit(self) -> str:
        return f"option<{self.inner.wit()}>"


@dataclass(frozen=True)
class ResultOf:
    ok: WitType | None
    err: WitType | None

    def wit(self) -> str:
        if self.ok is None and self.err is None:
            return "result"
        if self.err is None:
            return f"result<{self.ok.wit()}>"  # type: ignore[union-attr]
        return f"result<{'_' if self.ok is None else self.ok.wit()}, {self.err.wit()}>"


@dataclass(frozen=True)
class Own:
    """An owned handle to resource `resource` (a name, or `resource#N` when the name is unknown)."""

    resource: str
    # The host resource type id (`_restypes`) when the host implements the resource, else None.
    host_id: int | None = field(default=None, compare=False)
    ident: int | None = field(default=None, compare=False)  # world reader: the resource identity

    def wit(self) -> str:
        return self.resource


@dataclass(frozen=True)
class Borrow:
    resource: str
    host_id: int | None = field(default=None, compare=False)
    ident: int | None = field(default=None, compare=False)  # world reader: the resource identity

    def wit(self) -> str:
        return f"borrow<{self.resource}>"


@dataclass(frozen=True)
class StreamOf:
    """`stream<T>` (or a bare `stream`); read only by the world reader, since no converter carries it."""

    payload: WorldType | None

    def wit(self) -> str:
        return "stream" if self.payload is None else f"stream<{self.payload.wit()}>"


@dataclass(frozen=True)
class FutureOf:
    """`future<T>` (or a bare `future`); world reader only."""

    payload: WorldType | None

    def wit(self) -> str:
        return "future" if self.payload is None else f"future<{self.payload.wit()}>"


@dataclass(frozen=True)
class ErrorContext:
    """`error-context`; world reader only."""

    def wit(self) -> str:
        return "error-context"


WitType = Prim | ListOf | TupleOf | Record | Variant | Enum | Flags | OptionOf | ResultOf | Own | Borrow
# The async types only the world reader produces. They are not in `WitType` (the converters' union,
# which they cannot carry: a converter given one raises NotImplementedError), though the world reader
# nests them inside lists, records, ... typed as `WitType`.
AsyncType = StreamOf | FutureOf | ErrorContext
WorldType = WitType | AsyncType


@dataclass(frozen=True)
class FuncSig:
    """A function: its WIT name, parameters and result."""

    name: str
    params: tuple[tuple[str, WitType], ...]
    result: WitType | None

    @property
    def kind(self) -> str:
        """"freestanding", "constructor", "method" or "static" (from the `[method]r.f` naming rule)."""
        if self.name.startswith("[constructor]"):
            return "constructor"
        if self.name.startswith("[method]"):
            return "method"
        if self.name.startswith("[static]"):
            return "static"
        return "freestanding"

    @property
    def resource(self) -> str | None:
        """The resource a constructor/method/static belongs to."""
        if self.kind == "freestanding":
            return None
        rest = self.name.split("]", 1)[1]
        return rest.split(".", 1)[0]

    @property
    def short(self) -> str:
        """The name without the resource prefix (`increment` for `[method]counter.increment`)."""
        if self.kind == "freestanding":
            return self.name
        rest = self.name.split("]", 1)[1]
        return rest.split(".", 1)[1] if "." in rest else rest

    def wit(self) -> str:
        params = ", ".join(f"{n}: {t.wit()}" for n, t in self.params)
        return f"func({params})" + (f" -> {self.result.wit()}" if self.result is not None else "")


@dataclass
class InterfaceSig:
    """An instance (interface) import or export: its functions, resources and named types."""

    name: str
    funcs: dict[str, FuncSig] = field(default_factory=dict)
    resources: list[str] = field(default_factory=list)
    types: dict[str, WitType] = field(default_factory=dict)


@dataclass
class Signature:
    """Everything a component imports and exports, as far as functions and interfaces go."""

    imports: dict[str, InterfaceSig | FuncSig] = field(default_factory=dict)
    exports: dict[str, InterfaceSig | FuncSig] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    """A resource type a world or interface exports by name (methods are its `[method]r.f` functions)."""

    ident: int  # as `Own.ident`/`Borrow.ident` of handles to it


@dataclass(frozen=True)
class Opaque:
    """An item WIT cannot describe: a nested "component", core "module" or "instance"."""

    kind: str


@dataclass(frozen=True)
class Instance:
    """An interface in a world: what it exports, in the binary's order."""

    members: tuple[tuple[str, Item], ...]


Item = FuncSig | Resource | Opaque | Instance | WitType


@dataclass
class WorldSig:
    """A component's imports and exports in order, every named type with its identity (`read_world`)."""

    imports: list[tuple[str, Item]] = field(default_factory=list)
    exports: list[tuple[str, Item]] = field(default_factory=list)


class _Reader:
    """Converts wasmtime type objects to the model, naming records/enums/... and resources it has seen."""

    def __init__(self, named: list[tuple[str, Any]], resources: list[tuple[str, wc.ResourceType]]) -> None:
        self.named = named
        self.resources = resources

    def _name_of(self, ty: Any) -> str | None:
        for name, other in self.named:
            if type(other) is type(ty) and other == ty:
                return name
        return None

    def _nominal(self, ty: Any) -> dict[str, Any]:
        """The name (and, for the world reader, identity and owner) of a record/variant/enum/flags."""
        return {"name": self._name_of(ty)}

    def resource_name(self, rt: wc.ResourceType) -> str:
        for name, other in self.resources:
            if other == rt:
                return name
        self.resources.append((f"resource{len(self.resources)}", rt))
        return self.resources[-1][0]

    def read(self, ty: Any) -> WitType:
        if isinstance(ty, wc.Bool):
            return Prim("bool")
        for cls, name in _PRIM_CLASSES:
            if isinstance(ty, cls):
                return Prim(name)
        if isinstance(ty, wc.ListType):
            return ListOf(self.read(ty.element))
        if isinstance(ty, wc.TupleType):
            return TupleOf(tuple(self.read(e) for e in ty.elements))
        if isinstance(ty, wc.RecordType):
            return Record(tuple((n, self.read(t)) for n, t in ty.fields), **self._nominal(ty))
        if isinstance(ty, wc.VariantType):
            return Variant(tuple((n, None if t is None else self.read(t)) for n, t in ty.cases), **self._nominal(ty))
        if isinstance(ty, wc.EnumType):
            return Enum(tuple(ty.names), **self._nominal(ty))
        if isinstance(ty, wc.FlagsType):
            return Flags(tuple(ty.names), **self._nominal(ty))
        if isinstance(ty, wc.OptionType):
            return OptionOf(self.read(ty.payload))
        if isinstance(ty, wc.ResultType):
            ok, err = ty.ok, ty.err
            return ResultOf(None if ok is None else self.read(ok), None if err is None else self.read(err))
        if isinstance(ty, wc.OwnType):
            return Own(self.resource_name(ty.ty), host_id(ty.ty), **self._resource(ty.ty))
        if isinstance(ty, wc.BorrowType):
            return Borrow(self.resource_name(ty.ty), host_id(ty.ty), **self._resource(ty.ty))
        return self._other(ty)

    def _resource(self, rt: wc.ResourceType) -> dict[str, Any]:
        return {}

    def _other(self, ty: Any) -> WitType:
        raise NotImplementedError(f"WIT type {type(ty).__name__} is not supported by wasmhive yet")

    def func(self, name: str, fty: wc.FuncType) -> FuncSig:
        result = fty.result
        return FuncSig(name, tuple((n, self.read(t)) for n, t in fty.params),
                       None if result is None else self.read(result))


class _Identity:
    """One id per distinct wasmtime type, two types being the same when wasmtime says they are equal
    (`==` on type objects of the same class; that is how nominal types are told apart across interfaces)."""

    def __init__(self) -> None:
        self.seen: dict[type, list[tuple[Any, int]]] = {}
        self.count = 0

    def of(self, ty: Any) -> int:
        bucket = self.seen.setdefault(type(ty), [])
        for other, ident in bucket:
            if other == ty:
                return ident
        self.count += 1
        bucket.append((ty, self.count))
        return self.count


class _WorldReader(_Reader):
    """The reader for `wasmhive wit`: identities, owners, and the async types the converters refuse."""

    def __init__(self, ids: _Identity, owner: str | None = None, names: dict[int, str] | None = None) -> None:
        super().__init__([], [])
        self.ids, self.owner, self.names = ids, owner, names or {}

    def _nominal(self, ty: Any) -> dict[str, Any]:
        ident = self.ids.of(ty)
        name = self.names.get(ident)
        return {"name": name, "ident": ident, "owner": None if name is None else self.owner}

    def _resource(self, rt: wc.ResourceType) -> dict[str, Any]:
        return {"ident": self.ids.of(rt)}

    def resource_name(self, rt: wc.ResourceType) -> str:
        name = self.names.get(self.ids.of(rt))
        return name if name is not None else super().resource_name(rt)

    def _other(self, ty: Any) -> WitType:
        return cast(WitType, self._async(ty))  # see AsyncType

    def _async(self, ty: Any) -> AsyncType:
        if isinstance(ty, wc.ErrorContext):
            return ErrorContext()
        if isinstance(ty, (wc.StreamType, wc.FutureType)):
            try:
                payload: WitType | None = self.read(ty.payload)
            except (TypeError, wasmtime.WasmtimeError):
                payload = None  # no payload (`stream`), or one the bindings cannot reflect
            return StreamOf(payload) if isinstance(ty, wc.StreamType) else FutureOf(payload)
        raise NotImplementedError(f"WIT type {type(ty).__name__} is not supported by wasmhive yet")


_PRIM_CLASSES = [
    (wc.S8, "s8"), (wc.U8, "u8"), (wc.S16, "s16"), (wc.U16, "u16"), (wc.S32, "s32"), (wc.U32, "u32"),
    (wc.S64, "s64"), (wc.U64, "u64"), (wc.F32, "f32"), (wc.F64, "f64"), (wc.Char, "char"), (wc.String, "string"),
]


def read_func(name: str, fty: wc.FuncType) -> FuncSig:
    """One function type (e.g. the type of a host import wasmtime hands a host call) in the model."""
    return _Reader([], []).func(name, fty)


def read_type(ty: Any) -> WitType:
    """One wasmtime value type in the model (resources named by position)."""
    return _Reader([], []).read(ty)


def _read_instance(name: str, ity: wc.ComponentInstanceType, engine: wasmtime.Engine) -> InterfaceSig:
    items = {n: ext.ty for n, ext in ity.exports(engine).items()}
    resources = [(n, t) for n, t in items.items() if isinstance(t, wc.ResourceType)]
    # Named types (records, enums, ...) are exported from the instance type: they give names.
    named = [(n, t) for n, t in items.items() if not isinstance(t, (wc.FuncType, wc.ResourceType,
                                                                         wc.ComponentInstanceType))]
    reader = _Reader(named, list(resources))
    sig = InterfaceSig(name, resources=[n for n, _ in resources])
    for n, t in named:
        with contextlib.suppress(NotImplementedError):
            sig.types[n] = reader.read(t)
    for n, t in items.items():  # type: ignore[assignment]
        if isinstance(t, wc.FuncType):
            try:
                sig.funcs[n] = reader.func(n, t)
            except NotImplementedError:
                continue  # async-only types (stream/future): not callable from here
    return sig


def read_signature(component: wc.Component, engine: wasmtime.Engine) -> Signature:
    """Read a component's imports and exports into the model (functions and interfaces)."""
    ctype = component.type
    sig = Signature()
    for side, items in (("imports", ctype.imports(engine)), ("exports", ctype.exports(engine))):
        top: list[tuple[str, Any]] = []
        out = getattr(sig, side)
        for name, ext in items.items():
            ty = ext.ty
            if isinstance(ty, wc.ComponentInstanceType):
                out[name] = _read_instance(name, ty, engine)
            else:
                top.append((name, ty))
        named = [(n, t) for n, t in top if not isinstance(t, (wc.FuncType, wc.ResourceType))]
        reader = _Reader(named, [(n, t) for n, t in top if isinstance(t, wc.ResourceType)])
        for name, ty in top:
            if isinstance(ty, wc.FuncType):
                try:
                    out[name] = reader.func(name, ty)
                except NotImplementedError:
                    continue
    return sig


def read_world_type(ty: Any) -> WorldType:
    """One wasmtime value type for rendering: with identities and `stream`/`future`/`error-context`."""
    return _WorldReader(_Identity()).read(ty)


def read_world(component: wc.Component, engine: wasmtime.Engine) -> WorldSig:
    """Everything a component imports and exports, for `wasmhive wit`: nested interfaces' types keep
    their identity across the whole world, so a type used far from its interface can be traced back."""
    ids = _Identity()
    ctype = component.type
    world = WorldSig()
    for out, externs in ((world.imports, ctype.imports(engine)), (world.exports, ctype.exports(engine))):
        items = [(name, ext.ty) for name, ext in externs.items()]
        reader = _WorldReader(ids, None, _names(items, ids))
        for name, ty in items:
            if isinstance(ty, wc.ComponentInstanceType):
                members = [(n, ext.ty) for n, ext in ty.exports(engine).items()]
                out.append((name, Instance(_members(members, _WorldReader(ids, name, _names(members, ids)), ids))))
            else:
                out.append((name, _members([(name, ty)], reader, ids)[0][1]))
    return world


def _names(items: list[tuple[str, Any]], ids: _Identity) -> dict[int, str]:
    """The identities of the records/variants/enums/flags/resources `items` name (first name wins)."""
    names: dict[int, str] = {}
    for name, ty in items:
        if isinstance(ty, (wc.ResourceType, wc.RecordType, wc.VariantType, wc.EnumType, wc.FlagsType)):
            names.setdefault(ids.of(ty), name)
    return names


def _members(items: list[tuple[str, Any]], reader: _WorldReader, ids: _Identity) -> tuple[tuple[str, Item], ...]:
    out: list[tuple[str, Item]] = []
    for name, ty in items:
        if isinstance(ty, wc.FuncType):
            out.append((name, reader.func(name, ty)))
        elif isinstance(ty, wc.ResourceType):
            out.append((name, Resource(ids.of(ty))))
        elif isinstance(ty, (wc.ComponentType, wc.ModuleType, wc.ComponentInstanceType)):
            kind = "component" if isinstance(ty, wc.ComponentType) else (
                "module" if isinstance(ty, wc.ModuleType) else "instance")
            out.append((name, Opaque(kind)))
        else:
            out.append((name, reader.read(ty)))
    return tuple(out)


def wit_name(name: str) -> str:
    """A Python identifier for a WIT name: `docs:math/calculator@1.0.0` → `docs_math_calculator`."""
    base = name.split("@", 1)[0]
    out = "".join(c if c.isalnum() else "_" for c in base)
    return out if not out[:1].isdigit() else "_" + out
