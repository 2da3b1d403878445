"""What the binary parser reports about a core module or component: sections, imports/exports, contents.

Plain dataclasses with a `to_json()` each; the JSON shape is part of `wasmhive inspect --json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Component", "CoreModule", "Custom", "Extern", "FuncHint", "Memory", "Section", "TypeKey"]

# A nominal type by its shape: ("record", field names) / ("variant", case names) / ("enum"|"flags", names).
TypeKey = tuple[str, tuple[str, ...]]
# Alias names of a function's parameter types and of its result type (None where there is none).
FuncHint = tuple[list[str | None], str | None]


@dataclass
class Section:
    """One section: id, name (a custom section's own name), where it starts and its content size."""

    id: int
    name: str
    offset: int
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "offset": self.offset, "size": self.size}


@dataclass
class Custom:
    """A custom section by name."""

    name: str
    offset: int
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "offset": self.offset, "size": self.size}


@dataclass
class Memory:
    """A memory's limits (pages are 64 KiB unless `page_size` says otherwise)."""

    min: int
    max: int | None
    shared: bool = False
    memory64: bool = False
    page_size: int = 65536

    def wat(self) -> str:
        parts = ["i64"] if self.memory64 else []
        parts.append(str(self.min))
        if self.max is not None:
            parts.append(str(self.max))
        if self.shared:
            parts.append("shared")
        if self.page_size != 65536:
            parts.append(f"(pagesize {self.page_size})")
        return "(memory " + " ".join(parts) + ")"

    def to_json(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "shared": self.shared, "memory64": self.memory64,
                "page_size": self.page_size}


@dataclass
class Extern:
    """An import or export of a core module: kind (func/table/memory/global/tag) and its type as WAT."""

    name: str
    kind: str
    type: str
    module: str | None = None  # imports only
    index: int | None = None  # exports only

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "type": self.type}
        if self.module is not None:
            out = {"module": self.module, **out}
        if self.index is not None:
            out["index"] = self.index
        return out


@dataclass
class CoreModule:
    """What a core module contains, as read from its bytes."""

    offset: int
    size: int
    sections: list[Section] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    imports: list[Extern] = field(default_factory=list)
    exports: list[Extern] = field(default_factory=list)
    functions: int = 0  # defined (not imported) functions
    tables: list[str] = field(default_factory=list)
    memories: list[Memory] = field(default_factory=list)
    globals: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    start: int | None = None
    elements: int = 0
    data: int = 0
    data_count: int | None = None
    customs: list[Custom] = field(default_factory=list)
    producers: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    target_features: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    instructions: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "module", "offset": self.offset, "size": self.size,
            "sections": [s.to_json() for s in self.sections],
            "types": self.types,
            "imports": [i.to_json() for i in self.imports],
            "exports": [e.to_json() for e in self.exports],
            "functions": self.functions, "tables": self.tables,
            "memories": [m.to_json() for m in self.memories], "globals": self.globals, "tags": self.tags,
            "start": self.start, "elements": self.elements, "data": self.data, "data_count": self.data_count,
            "custom_sections": [c.to_json() for c in self.customs],
            "producers": self.producers, "target_features": self.target_features,
            "features": self.features, "features_unknown": self.unknown, "instructions": self.instructions,
        }


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
    # Per instance import/export, per function: the alias names of its parameter and result types
    # (`filesize`, `instant`): wasmtime reports those types structurally (`u64`).
    func_hints: dict[str, dict[str, FuncHint]] = field(default_factory=dict)
    # Per instance import/export, per record: the alias names of its fields' types.
    field_hints: dict[str, dict[str, list[str | None]]] = field(default_factory=dict)

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
