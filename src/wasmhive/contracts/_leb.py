"""LEB128 encoders shared by the Candid codec and the Wasm rewriter (both formats use them)."""

from __future__ import annotations

__all__ = ["sleb", "uleb"]


def uleb(n: int) -> bytes:
    """Unsigned LEB128 of a natural number."""
    if n < 0:
        raise ValueError(f"expected a natural number, got {n}")
    out = bytearray()
    while True:
        x = n & 0x7F
        n >>= 7
        out.append(x | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n: int) -> bytes:
    """Signed LEB128."""
    out = bytearray()
    while True:
        x = n & 0x7F
        n >>= 7
        if (n == 0 and not x & 0x40) or (n == -1 and x & 0x40):
            out.append(x)
            return bytes(out)
        out.append(x | 0x80)
