"""Loading: bytes or text → a compiled core module or component, through the compile cache."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import wasmtime
import wasmtime.component as wc

from ..errors import InvalidModule

__all__ = ["Compiled", "Kind", "defined_memories_of", "detect_kind", "explain_compile_error", "to_binary"]

Kind = Literal["module", "component"]
WASM_MAGIC = b"\0asm"
CORE_VERSION = b"\x01\x00\x00\x00"
COMPONENT_VERSION = b"\x0d\x00\x01\x00"
_TEXT_HEAD = re.compile(rb"\A(?:\s|;;[^\n]*\n|\(;.*?;\))*\(\s*(module|component)\b", re.S)


@dataclass
class Compiled:
    """A compiled core module or component, ready to instantiate many times.

    `raw` is the wasmtime object (`wasmtime.Module` or `wasmtime.component.Component`).
    """

    kind: Kind
    raw: wasmtime.Module | wc.Component
    name: str
    sha256: str
    size: int
    from_cache: bool = False
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def is_component(self) -> bool:
        return self.kind == "component"

    @property
    def module(self) -> wasmtime.Module:
        if not isinstance(self.raw, wasmtime.Module):
            raise TypeError(f"{self.name} is a component, not a core module")
        return self.raw

    @property
    def component(self) -> wc.Component:
        if not isinstance(self.raw, wc.Component):
            raise TypeError(f"{self.name} is a core module, not a component")
        return self.raw

    def __repr__(self) -> str:
        return f"<Compiled {self.kind} {self.name} {self.size} bytes sha256={self.sha256[:12]}>"


def detect_kind(data: bytes, source: str = "<bytes>") -> tuple[Kind, bool]:
    """(kind, is_text) from the header; raises `InvalidModule` saying what the bytes are instead."""
    if data[:4] == WASM_MAGIC:
        if len(data) < 8:
            raise InvalidModule("truncated: the file ends inside the Wasm header", source=source)
        version = data[4:8]
        if version == CORE_VERSION:
            return "module", False
        if version == COMPONENT_VERSION:
            return "component", False
        raise InvalidModule(f"unsupported Wasm binary version/layer {version.hex()}", source=source)
    m = _TEXT_HEAD.match(data[:4096])
    if m:
        return ("module" if m.group(1) == b"module" else "component"), True
    if not data:
        raise InvalidModule("empty file: not WebAssembly", source=source)
    if data.lstrip()[:1] == b"(":
        # Text that is not a module or component still gets wat2wasm's own diagnostic.
        return "module", True
    raise InvalidModule("not WebAssembly: no \\0asm header and not WebAssembly text", source=source)


def to_binary(data: bytes, source: str) -> tuple[Kind, bytes]:
    """Return (kind, binary), converting text formats with `wat2wasm`."""
    kind, is_text = detect_kind(data, source)
    if not is_text:
        return kind, data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidModule(f"WebAssembly text is not UTF-8: {e}", source=source) from None
    try:
        binary = bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as e:
        raise InvalidModule(f"WebAssembly text does not parse: {_wat_error(str(e))}", source=source) from None
    return detect_kind(binary, source)[0], binary


def explain_compile_error(e: Exception, data: bytes, source: str) -> InvalidModule:
    """Turn wasmtime's multi-line compile error into one readable line."""
    text = str(e)
    cause = _one_line(text)
    low = text.lower()
    if "exceeds the limit" in low:
        msg = f"needs more than this engine allows (see EngineSettings.pooling_max_memory): {cause}"
    elif "end-of-file" in low or "unexpected end" in low:
        msg = f"truncated module: {cause}"
    elif any(w in low for w in ("feature", "proposal", "not enabled", "must be enabled", "support")):
        msg = f"uses a WebAssembly feature this runtime does not enable: {cause}"
    else:
        msg = f"invalid WebAssembly: {cause}"
    return InvalidModule(msg, source=source)


def _wat_error(text: str) -> str:
    """wat2wasm's error is a message, then `--> <anon>:LINE:COL` and a caret picture: keep message and place."""
    first = text.strip().splitlines()[0] if text.strip() else "syntax error"
    m = re.search(r"-->\s*\S*?:(\d+):(\d+)", text)
    return f"{first} (line {m.group(1)}, column {m.group(2)})" if m else _one_line(text)


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    causes = [ln for ln in lines if not ln.startswith(("failed to", "Caused by"))]
    best = causes[-1] if causes else (lines[0] if lines else "unknown error")
    return re.sub(r"^\d+:\s*", "", best)


def read_source(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InvalidModule("no such file", source=str(p)) from None
    except IsADirectoryError:
        raise InvalidModule("is a directory, not a .wasm or .wat file", source=str(p)) from None
    except OSError as e:
        raise InvalidModule(f"cannot read: {e.strerror}", source=str(p)) from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def defined_memories_of(compiled: Compiled | None) -> int | None:
    """How many memories `compiled` defines (counted at load time), or None if unknown."""
    n = compiled.meta.get("memories") if compiled is not None else None
    return n if isinstance(n, int) else None
