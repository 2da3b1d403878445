"""Give the host a handle on memories a core module does not export.

wasmtime's store limiter refuses a `memory.grow` past `Limits.memory` by returning -1 to the guest,
which then usually traps; to say "memory limit" instead of "unreachable" we must see how big the
guest's memory had grown, and the C API only reaches exported memories. So before compiling, a core
module that defines memories without exporting them gets one extra export per such memory, named
`HIDDEN_PREFIX + index`. Only the host sees these exports (`Exports` hides them); the guest's
behaviour is unchanged. A module we cannot parse is returned as is, for the compiler to diagnose.
"""

from __future__ import annotations

__all__ = ["HIDDEN_PREFIX", "expose_memories"]

HIDDEN_PREFIX = "wasmhive:hidden-memory/"
_EXPORT, _IMPORT, _MEMORY = 7, 2, 5
# Sections that must come after the export section (start, element, data count, code, data).
_AFTER_EXPORT = {8, 9, 10, 11, 12}


class _Bail(Exception):
    pass


def _uleb(b: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(b) or shift > 63:
            raise _Bail
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _enc_uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _skip_name(b: bytes, pos: int) -> int:
    n, pos = _uleb(b, pos)
    return pos + n


def _skip_limits(b: bytes, pos: int) -> int:
    flags = b[pos]
    _, pos = _uleb(b, pos + 1)
    if flags & 0x01:
        _, pos = _uleb(b, pos)
    if flags & 0x08:  # custom page size
        _, pos = _uleb(b, pos)
    return pos


def _imported_memories(b: bytes, start: int, end: int) -> int:
    count, pos = _uleb(b, start)
    memories = 0
    for _ in range(count):
        pos = _skip_name(b, _skip_name(b, pos))
        kind = b[pos]
        pos += 1
        if kind == 0x00:  # func: type index
            _, pos = _uleb(b, pos)
        elif kind == 0x01:  # table: reftype, limits (only the MVP reftypes: GC is off)
            if b[pos] not in (0x70, 0x6F):
                raise _Bail
            pos = _skip_limits(b, pos + 1)
        elif kind == 0x02:
            memories += 1
            pos = _skip_limits(b, pos)
        elif kind == 0x03:  # global: valtype, mutability
            if b[pos] in (0x63, 0x64):
                raise _Bail
            pos += 2
        elif kind == 0x04:  # tag: attribute, type index
            _, pos = _uleb(b, pos + 1)
        else:
            raise _Bail
        if pos > end:
            raise _Bail
    return memories


def expose_memories(binary: bytes) -> bytes:
    """`binary` with an export added for every defined-but-unexported memory (unchanged if none)."""
    try:
        return _expose(binary)
    except (_Bail, IndexError):
        return binary


def _expose(b: bytes) -> bytes:
    if b[:8] != b"\0asm\x01\x00\x00\x00":
        return b
    sections: list[tuple[int, int, int, int]] = []  # (id, section start, payload start, end)
    pos = 8
    while pos < len(b):
        sid = b[pos]
        size, payload = _uleb(b, pos + 1)
        end = payload + size
        if end > len(b):
            raise _Bail
        sections.append((sid, pos, payload, end))
        pos = end
    imported = defined = 0
    export: tuple[int, int, int, int] | None = None
    for sec in sections:
        if sec[0] == _IMPORT:
            imported = _imported_memories(b, sec[2], sec[3])
        elif sec[0] == _MEMORY:
            defined, _ = _uleb(b, sec[2])
        elif sec[0] == _EXPORT:
            export = sec
    if not defined:
        return b
    exported: set[int] = set()
    names: set[str] = set()
    entries = b""
    count = 0
    if export is not None:
        count, p = _uleb(b, export[2])
        entries_start = p
        for _ in range(count):
            n, q = _uleb(b, p)
            names.add(b[q:q + n].decode("utf-8", "replace"))
            p = q + n
            kind = b[p]
            idx, p = _uleb(b, p + 1)
            if kind == 0x02:
                exported.add(idx)
        entries = b[entries_start:p]
    hidden = [i for i in range(imported, imported + defined) if i not in exported]
    if not hidden:
        return b
    extra = b""
    for i in hidden:
        name = f"{HIDDEN_PREFIX}{i}"
        if name in names:
            raise _Bail
        raw = name.encode()
        extra += _enc_uleb(len(raw)) + raw + b"\x02" + _enc_uleb(i)
    body = _enc_uleb(count + len(hidden)) + entries + extra
    section = b"\x07" + _enc_uleb(len(body)) + body
    if export is not None:
        return b[:export[1]] + section + b[export[3]:]
    at = next((s[1] for s in sections if s[0] in _AFTER_EXPORT), len(b))
    return b[:at] + section + b[at:]
