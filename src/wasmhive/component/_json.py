"""Component values ↔ JSON, and command-line words parsed by their WIT type (for `wasmhive call`).

JSON shapes: records are objects, tuples and lists arrays (`list<u8>` an array of numbers, or a
string taken as UTF-8 on input), variants `{"tag": ..., "value": ...}` (or `{"case": value}`, or
the bare case name when it has no payload), enums strings, flags arrays of names, options `null`
or the value (`{"some": ...}` when nested), results `{"ok": ...}` / `{"err": ...}`.
"""

from __future__ import annotations

import json
from typing import Any

import wasmhive.component._model as m

from ._values import Err, Ok, Record, Some, Variant

__all__ = ["from_json", "parse_word", "to_json"]


def to_json(ty: m.WitType | None, v: Any) -> Any:
    """A JSON-serialisable form of component value `v` of type `ty`."""
    if ty is None or (v is None and not isinstance(ty, (m.OptionOf, m.ResultOf))):
        return v
    if isinstance(ty, m.Prim):
        return v
    if isinstance(ty, m.ListOf):
        if isinstance(v, (bytes, bytearray)):
            return list(v)
        return [to_json(ty.elem, x) for x in v]
    if isinstance(ty, m.TupleOf):
        return [to_json(t, x) for t, x in zip(ty.elems, v, strict=True)]
    if isinstance(ty, m.Record):
        d = v._asdict() if isinstance(v, Record) else dict(v)
        return {n: to_json(t, d[n]) for n, t in ty.fields}
    if isinstance(ty, m.Variant):
        cases = dict(ty.cases)
        payload = cases.get(v.tag)
        return {"tag": v.tag, "value": None if payload is None else to_json(payload, v.value)}
    if isinstance(ty, m.Flags):
        return [n for n in ty.names if n in v]
    if isinstance(ty, m.OptionOf):
        if v is None:
            return None
        if isinstance(v, Some):
            return {"some": to_json(ty.inner, v.value)}
        return to_json(ty.inner, v)
    if isinstance(ty, m.ResultOf):
        if isinstance(v, Err):
            return {"err": to_json(ty.err, v.value)}
        return {"ok": to_json(ty.ok, v.value if isinstance(v, Ok) else v)}
    if isinstance(ty, (m.Own, m.Borrow)):
        return f"<{ty.resource} handle>"
    return v


def from_json(ty: m.WitType, v: Any) -> Any:
    """Turn a parsed JSON value into the Python shape the converters take for `ty`."""
    if isinstance(ty, m.Prim):
        if ty.name in ("f32", "f64") and isinstance(v, str) and v.lower() in ("nan", "inf", "-inf", "infinity"):
            return float(v)
        return v
    if isinstance(ty, m.ListOf):
        if isinstance(ty.elem, m.Prim) and ty.elem.name == "u8":
            if isinstance(v, str):
                return v.encode()
            return bytes(v) if isinstance(v, list) and all(isinstance(x, int) and 0 <= x < 256 for x in v) else v
        return [from_json(ty.elem, x) for x in v] if isinstance(v, list) else v
    if isinstance(ty, m.TupleOf):
        return tuple(from_json(t, x) for t, x in zip(ty.elems, v, strict=False)) if isinstance(v, list) else v
    if isinstance(ty, m.Record):
        if isinstance(v, dict):
            fields = dict(ty.fields)
            return {k: from_json(fields[k], x) if k in fields else x for k, x in v.items()}
        return v
    if isinstance(ty, m.Variant):
        cases = dict(ty.cases)
        if isinstance(v, str):
            return Variant(v)
        if isinstance(v, dict):
            if "tag" in v:
                tag, payload = v["tag"], v.get("value")
            elif len(v) == 1:
                ((tag, payload),) = v.items()
            else:
                return v
            pty = cases.get(tag)
            return Variant(tag, None if pty is None else from_json(pty, payload))
        return v
    if isinstance(ty, m.Flags):
        if isinstance(v, str):
            return {x.strip() for x in v.split(",") if x.strip()}
        return set(v) if isinstance(v, list) else v
    if isinstance(ty, m.OptionOf):
        if v is None:
            return None
        if isinstance(v, dict) and set(v) == {"some"}:
            return Some(from_json(ty.inner, v["some"]))
        return from_json(ty.inner, v)
    if isinstance(ty, m.ResultOf):
        if isinstance(v, dict) and set(v) == {"err"}:
            return Err(None if ty.err is None else from_json(ty.err, v["err"]))
        if isinstance(v, dict) and set(v) == {"ok"}:
            return Ok(None if ty.ok is None else from_json(ty.ok, v["ok"]))
        return Ok(None if ty.ok is None else from_json(ty.ok, v))
    return v


def parse_word(ty: m.WitType, word: str) -> Any:
    """A command-line word as a value of `ty`: numbers and words as themselves, JSON for the rest.

    Raises only `ValueError` (what the CLI reports as a bad argument), whatever the word."""
    if isinstance(ty, m.Prim):
        name = ty.name
        if name == "string":
            return word
        if name == "char":
            return word
        if name == "bool":
            low = word.lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
            raise ValueError(f"not a bool: {word!r} (use true or false)")
        if name in ("f32", "f64"):
            return float(word)
        try:
            return int(word, 0)
        except ValueError:
            raise ValueError(f"not an integer: {word!r}") from None
    if isinstance(ty, m.Enum):
        return word[1:-1] if word.startswith('"') else word
    if isinstance(ty, m.Flags) and not word.lstrip().startswith("["):
        return from_json(ty, word)
    if isinstance(ty, m.Variant) and word in dict(ty.cases):
        return Variant(word)
    if isinstance(ty, m.OptionOf) and word in ("null", "none"):
        return None
    if isinstance(ty, m.OptionOf) and isinstance(ty.inner, m.Prim) and ty.inner.name in ("string", "char"):
        return word
    if isinstance(ty, m.ListOf) and isinstance(ty.elem, m.Prim) and ty.elem.name == "u8" \
            and not word.lstrip().startswith("["):
        return word.encode()
    try:
        data = json.loads(word)
    except json.JSONDecodeError as e:
        raise ValueError(f"expected JSON for {ty.wit()}: {e.msg} in {word!r}") from None
    except RecursionError:
        raise ValueError(f"expected JSON for {ty.wit()}: nested too deeply") from None
    try:
        return from_json(ty, data)
    except RecursionError:
        raise ValueError(f"JSON for {ty.wit()} is nested too deeply") from None
    except TypeError as e:  # e.g. a list where a hashable case or flag name belongs
        raise ValueError(f"JSON does not fit {ty.wit()}: {e}") from None
