"""A small Wasm binary parser: sections, types, imports, exports, custom sections, features used.

Pure Python, no wasmtime: it reads core modules and components (their section lists and the core
modules embedded in them) well enough to describe them. Malformed input raises `InvalidModule`
naming the source and byte offset; code it cannot decode is reported as "unknown", not raised.

This is the entry point: `_wasmcore` parses core modules, `_wasmcomponent` components, and a
component's embedded binaries come back here through the `parse_at` it is given.
"""

from __future__ import annotations

from ..errors import InvalidModule
from ._wasmcomponent import parse_component
from ._wasmcore import COMPONENT_VERSION, CORE_VERSION, MAGIC, MAX_NESTING, parse_core
from ._wasmmodel import Component, CoreModule, Custom, Extern, Memory, Section
from ._wasmread import Reader

__all__ = ["Component", "CoreModule", "Custom", "Extern", "Memory", "Section", "parse", "parse_module"]


def parse(data: bytes, source: str = "<bytes>") -> CoreModule | Component:
    """Parse a whole binary (core module or component)."""
    return _parse_at(Reader(data, 0, len(data), source), 0)


def parse_module(data: bytes, source: str = "<bytes>") -> CoreModule:
    """Parse a core module; a component is an `InvalidModule` here."""
    out = parse(data, source)
    if not isinstance(out, CoreModule):
        raise InvalidModule("is a component, not a core module", source=source)
    return out


def _parse_at(r: Reader, depth: int) -> CoreModule | Component:
    start = r.pos
    if r.end - r.pos < 8:
        raise r.error("truncated: shorter than the 8-byte Wasm header")
    if r.bytes(4) != MAGIC:
        raise r.error("not WebAssembly: bad magic (expected \\0asm)", start)
    version = r.bytes(4)
    if version == CORE_VERSION:
        return parse_core(r, start)
    if version == COMPONENT_VERSION:
        if depth > MAX_NESTING:
            raise r.error("components nested too deeply", start)
        return parse_component(r, start, depth, _parse_at)
    raise r.error(f"unsupported Wasm version/layer {version.hex()}", start + 4)
