"""Component value types as the canonical ABI sees them: size, alignment and flattening.

Types are plain objects built by the parser; `Resource` compares by identity (each imported or defined
resource type is one object, aliases point at it). The Python shape of their values (wasmhive's typed
convention) is `canon._values`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Borrow", "Enum", "Flags", "FuncType", "InstanceType", "List", "Own", "Prim", "Record", "Resource",
    "ResultT", "Tuple", "ValType", "Variant", "align", "flat", "join", "named", "size",
]


class ValType:
    """A component value type."""


@dataclass(frozen=True, eq=False)
class Prim(ValType):
    name: str  # bool s8 u8 s16 u16 s32 u32 s64 u64 f32 f64 char string


@dataclass(eq=False)
class List(ValType):
    elem: ValType


@dataclass(eq=False)
class Record(ValType):
    fields: list[tuple[str, ValType]]
    name: str | None = None  # the WIT name, when the component exports the type under one (its class name)


@dataclass(eq=False)
class Tuple(ValType):
    elems: list[ValType]


@dataclass(eq=False)
class Variant(ValType):
    """Also `option` (kind "option": none/some) and `result` (kind "result": ok/err)."""

    cases: list[tuple[str, ValType | None]]
    kind: str = "variant"


def ResultT(ok: ValType | None, err: ValType | None) -> Variant:
    return Variant([("ok", ok), ("err", err)], "result")


@dataclass(eq=False)
class Enum(ValType):
    names: list[str]


@dataclass(eq=False)
class Flags(ValType):
    names: list[str]


@dataclass(eq=False)
class Resource:
    """A resource type: `name` for messages; `dtor` a core function index for guest-defined ones."""

    name: str
    imported: bool = True
    dtor: int | None = None


@dataclass(eq=False)
class Own(ValType):
    res: Resource


@dataclass(eq=False)
class Borrow(ValType):
    res: Resource


@dataclass(eq=False)
class FuncType:
    params: list[tuple[str, ValType]]
    result: ValType | None


@dataclass(eq=False)
class InstanceType:
    exports: dict[str, object] = field(default_factory=dict)  # ValType | Resource | FuncType | InstanceType


_PSIZE = {"bool": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "s32": 4, "u32": 4, "s64": 8, "u64": 8,
          "f32": 4, "f64": 8, "char": 4, "string": 8}
_PALIGN = {**_PSIZE, "string": 4}


def disc_size(n: int) -> int:
    return 1 if n <= 0x100 else 2 if n <= 0x10000 else 4


def _up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def align(t: ValType) -> int:
    if isinstance(t, Prim):
        return _PALIGN[t.name]
    if isinstance(t, (List, Own, Borrow)):
        return 4
    if isinstance(t, Record):
        return max((align(f) for _, f in t.fields), default=1)
    if isinstance(t, Tuple):
        return max((align(e) for e in t.elems), default=1)
    if isinstance(t, Variant):
        return max([disc_size(len(t.cases))] + [align(c) for _, c in t.cases if c is not None])
    if isinstance(t, Enum):
        return disc_size(len(t.names))
    if isinstance(t, Flags):
        n = len(t.names)
        return 1 if n <= 8 else 2 if n <= 16 else 4
    raise TypeError(f"no alignment for {t!r}")


def size(t: ValType) -> int:
    if isinstance(t, Prim):
        return _PSIZE[t.name]
    if isinstance(t, List):
        return 8
    if isinstance(t, (Own, Borrow)):
        return 4
    if isinstance(t, (Record, Tuple)):
        s = 0
        for f in (t.elems if isinstance(t, Tuple) else [f for _, f in t.fields]):
            s = _up(s, align(f)) + size(f)
        return _up(s, align(t))
    if isinstance(t, Variant):
        s = _up(disc_size(len(t.cases)), max_case_align(t))
        s += max((size(c) for _, c in t.cases if c is not None), default=0)
        return _up(s, align(t))
    if isinstance(t, Enum):
        return disc_size(len(t.names))
    if isinstance(t, Flags):
        n = len(t.names)
        return 1 if n <= 8 else 2 if n <= 16 else 4 * ((n + 31) // 32)
    raise TypeError(f"no size for {t!r}")


def max_case_align(t: Variant) -> int:
    return max((align(c) for _, c in t.cases if c is not None), default=1)


def join(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


def flat(t: ValType) -> list[str]:
    """The core value types `t` flattens to ("i32", "i64", "f32", "f64")."""
    if isinstance(t, Prim):
        return {"s64": ["i64"], "u64": ["i64"], "f32": ["f32"], "f64": ["f64"],
                "string": ["i32", "i32"]}.get(t.name, ["i32"])
    if isinstance(t, List):
        return ["i32", "i32"]
    if isinstance(t, (Own, Borrow, Enum)):
        return ["i32"]
    if isinstance(t, Flags):
        return ["i32"] * max(1, (len(t.names) + 31) // 32) if t.names else []
    if isinstance(t, Record):
        return [x for _, f in t.fields for x in flat(f)]
    if isinstance(t, Tuple):
        return [x for e in t.elems for x in flat(e)]
    if isinstance(t, Variant):
        out: list[str] = []
        for _, c in t.cases:
            if c is None:
                continue
            for i, ft in enumerate(flat(c)):
                if i < len(out):
                    out[i] = join(out[i], ft)
                else:
                    out.append(ft)
        return ["i32", *out]
    raise TypeError(f"cannot flatten {t!r}")


def named(t: object, name: str) -> None:
    """Record the first exported name of record type `t` (lifted records become class `Name`)."""
    if isinstance(t, Record) and t.name is None:
        t.name = name
