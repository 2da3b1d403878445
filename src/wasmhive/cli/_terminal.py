"""Text from a module, manifest or guest is data, not terminal output: make it safe to print.

A name inside a Wasm module can hold rich markup (`[bold]`, `[/]`) or terminal control sequences
(ESC, OSC, bidi overrides). `printable` shows every control or format character as a visible escape
(`\\x1b`, `\\u202e`); `plain` wraps the result in a rich `Text`, which rich never parses as markup;
`json_text` is JSON whose strings keep such characters as `\\u` escapes.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

__all__ = ["json_text", "plain", "printable"]

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


def json_text(value: object, **options: object) -> str:
    """`json.dumps(value, ensure_ascii=False, ...)` with every control or format character still
    escaped (`\\u202e`): the same JSON value, but nothing in it acts on the terminal."""
    import json

    text = json.dumps(value, ensure_ascii=False, **options)  # type: ignore[arg-type]
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch not in "\n" and unicodedata.category(ch) in _UNSAFE:
            n = ord(ch)
            if n >= 0x10000:  # JSON escapes astral characters as a surrogate pair
                n -= 0x10000
                out.append(f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}")
            else:
                out.append(f"\\u{n:04x}")
        else:
            out.append(ch)
    return "".join(out)
