"""Text from a module, manifest or guest is data, not terminal output: make it safe to print.

A name inside a Wasm module can hold rich markup (`[bold]`, `[/]`) or terminal control sequences
(ESC, OSC, bidi overrides). `printable` shows every control or format character as a visible escape
(`\\x1b`, `\\u202e`); `plain` wraps the result in a rich `Text`, which rich never parses as markup.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

__all__ = ["plain", "printable"]

# Control (Cc), format (Cf: bidi overrides, zero-width), line/paragraph separators, surrogates, unassigned.
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _escape_char(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control/format character shown as an escape (newlines kept if asked)."""
    if text.isprintable():
        return text
    keep = "\n" if keep_newlines else ""
    return "".join(_escape_char(ch) if ch not in keep and unicodedata.category(ch) in _UNSAFE else ch
                   for ch in text)


def plain(text: object, *, style: str = "") -> Text:
    """A rich `Text` of `printable(str(text))`: shown exactly, never interpreted as markup."""
    return Text(printable(str(text)), style=style)
