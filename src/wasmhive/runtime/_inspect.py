"""What a `.wasm`/`.wat` file contains, for `wasmhive inspect`: the parsed binary plus identity facts.

The binary side (sections, imports/exports, custom sections, producers, features) comes from our
own parser in `_wasmparse`; a component's WIT world is attached by the caller (the component
layer), so this module stays below it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ._loader import read_source, sha256_hex, to_binary
from ._wasmparse import Component, CoreModule, parse

__all__ = ["Inspection", "inspect"]

JSON_VERSION = 1


@dataclass
class Inspection:
    """The description of one module or component. `world` is set by the component layer."""

    source: str
    kind: str  # "module" | "component"
    size: int
    sha256: str
    from_text: bool
    binary: bytes
    parsed: CoreModule | Component
    world: Any = None  # wasmhive.component._wit.World, when it could be read
    world_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A stable, versioned JSON shape (`format` bumps on incompatible changes)."""
        out: dict[str, Any] = {
            "format": JSON_VERSION, "file": self.source, "kind": self.kind, "size": self.size,
            "sha256": self.sha256, "from_text": self.from_text,
        }
        out.update({k: v for k, v in self.parsed.to_json().items() if k not in ("kind", "offset", "size")})
        if self.kind == "component":
            out["world"] = None if self.world is None else {**self.world.to_json(), "wit": self.world.to_wit()}
            out["world_error"] = self.world_error
        return out


def inspect(source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> Inspection:
    """Read and describe a core module or component (binary or text); raises `InvalidModule`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), name or "<bytes>"
    else:
        data, label = read_source(source), name or str(source)
    # A binary goes to our parser first: its errors carry the byte offset.
    parsed = parse(data, label) if data[:4] == b"\0asm" else None
    kind, binary = to_binary(data, label)
    parsed = parsed or parse(binary, label)
    return Inspection(label, kind, len(binary), sha256_hex(binary), binary is not data, binary, parsed)
