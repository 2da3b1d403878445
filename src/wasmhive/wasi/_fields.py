"""`wasi:http/types.fields`: an ordered multimap of HTTP header fields with wasi:http's rules.

- Names are case-insensitive tokens (RFC 9110); they are stored and reported lower-case.
- Values are bytes without CR, LF or NUL (other control bytes except TAB are refused too).
- Forbidden names (hop-by-hop and connection-level: `connection`, `host`, `transfer-encoding`, ...)
  are refused with `forbidden`, as wasmtime's host does by default.
- Fields handed out by `headers()` of a request/response, and trailers, are immutable: `set`, `append`
  and `delete` answer `immutable`. `clone()` gives a mutable copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["FORBIDDEN", "Fields", "HeaderError", "valid_name", "valid_value"]

FORBIDDEN = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "transfer-encoding", "upgrade", "host", "http2-settings",
})
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_NAMES: dict[bytes, str] = {}  # raw header name -> lower-case text (see `Fields.received`)
_NAMES_MAX = 512


class HeaderError(Exception):
    """A refused fields operation; `code` is the WIT case: invalid-syntax, forbidden or immutable."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def valid_name(name: str) -> bool:
    try:
        return bool(_TOKEN.match(name.encode("ascii")))
    except UnicodeEncodeError:
        return False


def valid_value(value: bytes) -> bool:
    return not _BAD_VALUE.search(value) and value == value.strip(b" \t")


class Fields:
    """Header fields in insertion order: a list of (lower-case name, value)."""

    __slots__ = ("entries", "mutable")

    def __init__(self, entries: list[tuple[str, bytes]] | None = None, *, mutable: bool = True) -> None:
        self.entries = entries if entries is not None else []
        self.mutable = mutable

    @classmethod
    def received(cls, raw: Iterable[tuple[bytes, bytes]], skip: frozenset[str] = frozenset()) -> Fields:
        """Immutable fields of a request the server parsed: values kept as the bytes that arrived (no
        decoding, so any byte the server let through reaches the guest unchanged), names lower-cased
        text (`field-name` is a WIT `string`), fields named in `skip` left out. Names come from a small
        cache, so a name seen before costs one dict lookup."""
        names = _NAMES
        out = []
        for k, v in raw:
            name = names.get(k)
            if name is None:
                name = k.decode("latin-1").lower()
                if len(names) < _NAMES_MAX:  # bounded: a client sending endless new names grows nothing
                    names[bytes(k)] = name
            if name not in skip:
                out.append((name, v))
        return cls(out, mutable=False)

    @classmethod
    def checked(cls, entries: list[tuple[str, bytes]], *, check_forbidden: bool = True) -> Fields:
        """Fields from guest-supplied entries; raises `HeaderError` for a bad or forbidden name/value."""
        out = []
        for name, value in entries:
            out.append((cls._check(name, value, check_forbidden), value))
        return cls(out)

    @staticmethod
    def _check(name: str, value: bytes | None, check_forbidden: bool = True) -> str:
        if not valid_name(name):
            raise HeaderError("invalid-syntax")
        low = name.lower()
        if check_forbidden and low in FORBIDDEN:
            raise HeaderError("forbidden")
        if value is not None and not valid_value(value):
            raise HeaderError("invalid-syntax")
        return low

    def _mutate(self) -> None:
        if not self.mutable:
            raise HeaderError("immutable")

    def get(self, name: str) -> list[bytes]:
        low = name.lower()
        return [v for k, v in self.entries if k == low]

    def has(self, name: str) -> bool:
        low = name.lower()
        return any(k == low for k, _ in self.entries)

    def set(self, name: str, values: list[bytes]) -> None:
        self._mutate()
        low = self._check(name, None)
        for v in values:
            if not valid_value(v):
                raise HeaderError("invalid-syntax")
        self.entries = [(k, v) for k, v in self.entries if k != low] + [(low, v) for v in values]

    def delete(self, name: str) -> None:
        self._mutate()
        low = self._check(name, None)
        self.entries = [(k, v) for k, v in self.entries if k != low]

    def append(self, name: str, value: bytes) -> None:
        self._mutate()
        self.entries.append((self._check(name, value), value))

    def copy(self, *, mutable: bool) -> Fields:
        return Fields(list(self.entries), mutable=mutable)

    def size(self) -> int:
        """Bytes on the wire, roughly (name + value + 4 per field)."""
        return sum(len(k) + len(v) + 4 for k, v in self.entries)
