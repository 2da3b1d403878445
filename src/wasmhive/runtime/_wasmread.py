"""A bounds-checked byte reader for the Wasm binary format (LEB128, names, vectors).

Every failure is an `InvalidModule` naming the source and the byte offset, so callers never see an
`IndexError` or `UnicodeDecodeError` from malformed input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..errors import InvalidModule

__all__ = ["Reader", "malformed"]

T = TypeVar("T")


def malformed(message: str, offset: int, source: str) -> InvalidModule:
    """An `InvalidModule` for malformed bytes at `offset` (also kept as `.offset`)."""
    err = InvalidModule(f"{message} at offset {offset} (0x{offset:x})", source=source)
    err.offset = offset  # type: ignore[attr-defined]
    return err


class Reader:
    """Reads `data[pos:end]`; positions are absolute offsets into the whole file."""

    __slots__ = ("data", "end", "pos", "source")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, source: str = "<bytes>") -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.source = source

    def error(self, message: str, offset: int | None = None) -> InvalidModule:
        return malformed(message, self.pos if offset is None else offset, self.source)

    @property
    def eof(self) -> bool:
        return self.pos >= self.end

    def sub(self, size: int) -> Reader:
        """A reader over the next `size` bytes; this reader skips past them."""
        if size < 0 or self.pos + size > self.end:
            raise self.error(f"unexpected end: {size} bytes declared, {self.end - self.pos} left")
        r = Reader(self.data, self.pos, self.pos + size, self.source)
        self.pos += size
        return r

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.error("unexpected end of data")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def peek(self) -> int:
        if self.pos >= self.end:
            raise self.error("unexpected end of data")
        return self.data[self.pos]

    def bytes(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise self.error(f"unexpected end: {n} bytes needed, {self.end - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _leb(self, bits: int, signed: bool) -> int:
        start = self.pos
        result = shift = 0
        max_bytes = (bits + 6) // 7
        for i in range(max_bytes):
            if self.pos >= self.end:
                raise self.error("unexpected end inside a LEB128 integer", start)
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if i == max_bytes - 1:
                    # The last byte may only carry the bits that fit (plus sign extension).
                    used = bits - 7 * i
                    rest = b & 0x7F
                    if signed:
                        sign = (rest >> (used - 1)) & 1
                        if rest >> used != (0x7F >> used if sign else 0):
                            raise self.error(f"LEB128 integer too large for {bits} bits", start)
                    elif rest >> used:
                        raise self.error(f"LEB128 integer too large for {bits} bits", start)
                if signed and b & 0x40:
                    result -= 1 << shift
                return result
        raise self.error(f"LEB128 integer longer than {max_bytes} bytes", start)

    def u32(self) -> int:
        return self._leb(32, False)

    def u64(self) -> int:
        return self._leb(64, False)

    def s32(self) -> int:
        return self._leb(32, True)

    def s33(self) -> int:
        return self._leb(33, True)

    def s64(self) -> int:
        return self._leb(64, True)

    def count(self) -> int:
        """A vector length, sanity-checked against the bytes left (each item takes >= 1 byte)."""
        start = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise self.error(f"vector of {n} items cannot fit in {self.end - self.pos} bytes", start)
        return n

    def name(self) -> str:
        start = self.pos
        n = self.u32()
        raw = self.bytes(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("name is not valid UTF-8", start) from None

    def vec(self, item: Callable[[], T]) -> list[T]:
        return [item() for _ in range(self.count())]

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise self.error(f"{self.end - self.pos} unexpected bytes at the end of the {what}")
