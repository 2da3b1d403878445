"""How many linear memories a module or component defines, read from its section headers.

wasmtime's store limit on memory is per memory; `Limits.memory` is a total per instance. To bound the
sum we split the total across the memories the guest defines (every core module, nested components
included), so this count must be cheap (a hop over section headers, no full parse) and must never
raise: an unreadable binary counts as one memory and is left for the compiler to diagnose.
"""

from __future__ import annotations

from ._expose import _Bail, _uleb

__all__ = ["defined_memories"]

_CORE = b"\0asm\x01\x00\x00\x00"
_COMPONENT_PREFIX = b"\0asm"
_MEMORY, _CORE_MODULE, _COMPONENT = 5, 1, 4
_MAX_DEPTH = 32


def defined_memories(binary: bytes) -> int:
    """Memories defined by `binary` (a core module or a component, counted through nested ones)."""
    try:
        return _count(memoryview(binary), 0)
    except (_Bail, IndexError):
        return 1


def _sections(b: memoryview) -> list[tuple[int, int, int]]:
    """(id, payload start, payload end) of every section after the 8-byte header."""
    out = []
    pos = 8
    while pos < len(b):
        sid = b[pos]
        size, payload = _uleb(bytes(b[pos + 1:pos + 11]), 0)
        payload += pos + 1
        end = payload + size
        if end > len(b):
            raise _Bail
        out.append((sid, payload, end))
        pos = end
    return out


def _count(b: memoryview, depth: int) -> int:
    if depth > _MAX_DEPTH or bytes(b[:4]) != _COMPONENT_PREFIX:
        raise _Bail
    total = 0
    if bytes(b[:8]) == _CORE:
        for sid, start, end in _sections(b):
            if sid == _MEMORY:
                total += _uleb(bytes(b[start:min(end, start + 10)]), 0)[0]
        return total
    for sid, start, end in _sections(b):
        if sid in (_CORE_MODULE, _COMPONENT):
            total += _count(b[start:end], depth + 1)
    return total
