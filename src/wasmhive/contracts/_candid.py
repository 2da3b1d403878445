"""Candid binary format (`DIDL`): encode Python values by type, decode self-describing messages.

Types are tuples: a primitive name (`"nat"`, `"text"`, ...), `("opt", T)`, `("vec", T)`,
`("record", ((id, name, T), ...))`, `("variant", ((id, name, T), ...))`, `("func", args, rets, modes)`,
`("service", ((name, T), ...))` or `("ref", name)` for a named type of a `.did` file (resolved in `env`).

Values: int, float, str, bool, None (null, or an absent opt), bytes (blob), list (vec), dict (record by
field name; variant as a one-key dict), `Principal`. Field ids are `idl_hash(name)`; a tuple record's
fields are named "0", "1", ....
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import WasmhiveError
from ._leb import sleb
from ._leb import uleb as _uleb
from ._principal import Principal

__all__ = ["MAX_NESTING", "CandidError", "Type", "decode", "encode", "field_names", "idl_hash"]

Type = Any
MAGIC = b"DIDL"
MAX_NESTING = 100  # values and types nest at most this deep (text, JSON, binary): no parser recursion blows up
MAX_VALUES = 2_000_000  # values one decoded message may hold (a `vec null` costs no bytes per element)
PRIMS = {"null": -1, "bool": -2, "nat": -3, "int": -4, "nat8": -5, "nat16": -6, "nat32": -7, "nat64": -8,
         "int8": -9, "int16": -10, "int32": -11, "int64": -12, "float32": -13, "float64": -14, "text": -15,
         "reserved": -16, "empty": -17, "principal": -24}
PRIM_BY_CODE = {v: k for k, v in PRIMS.items()}
_FIXED = {"nat8": "<B", "nat16": "<H", "nat32": "<I", "nat64": "<Q", "int8": "<b", "int16": "<h",
          "int32": "<i", "int64": "<q", "float32": "<f", "float64": "<d"}
_COMPOSITE = {"opt": -18, "vec": -19, "record": -20, "variant": -21, "func": -22, "service": -23}


class CandidError(WasmhiveError):
    """A value does not fit its Candid type, or bytes are not a valid Candid message."""

    exit_code = 2


def idl_hash(name: str) -> int:
    """The 32-bit id of a record/variant field name."""
    h = 0
    for c in name.encode():
        h = (h * 223 + c) & 0xFFFFFFFF
    return h


def uleb(n: int) -> bytes:
    if n < 0:
        raise CandidError(f"expected a natural number, got {n}")
    return _uleb(n)


# -- encoding ------------------------------------------------------------------------------------------
class _TypeTable:
    def __init__(self, env: dict[str, Type]) -> None:
        self.env = env
        self.entries: list[bytes] = []
        self.index: dict[Any, int] = {}

    def resolve(self, t: Type) -> Type:
        seen = 0
        while isinstance(t, tuple) and t[0] == "ref":
            if t[1] not in self.env:
                raise CandidError(f"unknown type name {t[1]!r}")
            t = self.env[t[1]]
            seen += 1
            if seen > 100:
                raise CandidError("type definition cycle without a constructor")
        return t

    def ref(self, t: Type) -> bytes:
        key = t
        if isinstance(t, tuple) and t[0] == "ref":
            target = self.resolve(t)
            if isinstance(target, str):
                return self.ref(target)
            key = t
        elif isinstance(t, str):
            if t == "blob":
                t = key = ("vec", "nat8")
            else:
                if t not in PRIMS:
                    raise CandidError(f"unknown type {t!r}")
                return sleb(PRIMS[t])
        if key in self.index:
            return sleb(self.index[key])
        idx = len(self.entries)
        self.index[key] = idx
        self.entries.append(b"")
        body = self.resolve(t)
        kind = body[0]
        out = bytearray(sleb(_COMPOSITE[kind]))
        if kind in ("opt", "vec"):
            out += self.ref(body[1])
        elif kind in ("record", "variant"):
            fields = sorted(body[1], key=lambda f: f[0])
            out += uleb(len(fields))
            for fid, _name, ft in fields:
                out += uleb(fid) + self.ref(ft)
        elif kind == "func":
            out += uleb(len(body[1])) + b"".join(self.ref(a) for a in body[1])
            out += uleb(len(body[2])) + b"".join(self.ref(a) for a in body[2])
            modes = {"query": 1, "oneway": 2, "composite_query": 3}
            out += uleb(len(body[3])) + bytes(modes[m] for m in body[3])
        elif kind == "service":
            methods = sorted(body[1])
            out += uleb(len(methods))
            for name, mt in methods:
                out += uleb(len(name.encode())) + name.encode() + self.ref(mt)
        self.entries[idx] = bytes(out)
        return sleb(idx)


def encode(types: list[Type], values: list[Any], env: dict[str, Type] | None = None) -> bytes:
    """Encode `values` with `types` as one Candid message."""
    if len(types) != len(values):
        raise CandidError(f"expected {len(types)} argument(s), got {len(values)}")
    table = _TypeTable(env or {})
    refs = [table.ref(t) for t in types]
    body = bytearray()
    for t, v in zip(types, values, strict=True):
        _enc_value(table, t, v, body)
    return MAGIC + uleb(len(table.entries)) + b"".join(table.entries) + uleb(len(refs)) + b"".join(refs) + bytes(body)


def _enc_value(table: _TypeTable, t: Type, v: Any, out: bytearray) -> None:
    t = table.resolve(t)
    if isinstance(t, str):
        if t == "blob":
            t = ("vec", "nat8")
        else:
            _enc_prim(t, v, out)
            return
    kind = t[0]
    if kind == "opt":
        if v is None:
            out.append(0)
        else:
            out.append(1)
            _enc_value(table, t[1], v, out)
    elif kind == "vec":
        inner = table.resolve(t[1])
        if inner == "nat8" and isinstance(v, (bytes, bytearray)):
            out += uleb(len(v)) + bytes(v)
            return
        if not isinstance(v, (list, tuple)):
            raise CandidError(f"expected a vec, got {v!r}")
        out += uleb(len(v))
        for item in v:
            _enc_value(table, t[1], item, out)
    elif kind == "record":
        if isinstance(v, (list, tuple)):
            v = {str(i): x for i, x in enumerate(v)}
        if not isinstance(v, dict):
            raise CandidError(f"expected a record, got {v!r}")
        for fid, name, ft in sorted(t[1], key=lambda f: f[0]):
            key = name if name in v else str(fid) if str(fid) in v else fid
            if key not in v:
                if (isinstance(table.resolve(ft), tuple) and table.resolve(ft)[0] == "opt") or ft in ("null", "reserved"):
                    _enc_value(table, ft, None, out)
                    continue
                raise CandidError(f"record field {name or fid!r} missing in {v!r}")
            _enc_value(table, ft, v[key], out)
    elif kind == "variant":
        if isinstance(v, str):
            v = {v: None}
        if not isinstance(v, dict) or len(v) != 1:
            raise CandidError(f"expected a variant (one-key dict), got {v!r}")
        (tag, val), = v.items()
        fields = sorted(t[1], key=lambda f: f[0])
        for i, (fid, name, ft) in enumerate(fields):
            if tag in (name, str(fid), fid):
                out += uleb(i)
                _enc_value(table, ft, val, out)
                return
        raise CandidError(f"variant has no case {tag!r}")
    elif kind == "service":
        out.append(1)
        _enc_prim("principal", v, out)
    elif kind == "func":
        p, name = v
        out.append(1)
        out.append(1)
        _enc_prim("principal", p, out)
        _enc_prim("text", name, out)
    else:
        raise CandidError(f"cannot encode type {t!r}")


def _enc_prim(t: str, v: Any, out: bytearray) -> None:
    if t in ("null", "reserved"):
        return
    if t == "bool":
        if not isinstance(v, bool):
            raise CandidError(f"expected bool, got {v!r}")
        out.append(1 if v else 0)
    elif t == "nat":
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise CandidError(f"expected nat, got {v!r}")
        out += uleb(v)
    elif t == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            raise CandidError(f"expected int, got {v!r}")
        out += sleb(v)
    elif t in _FIXED:
        if t.startswith("float"):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise CandidError(f"expected {t}, got {v!r}")
        elif not isinstance(v, int) or isinstance(v, bool):
            raise CandidError(f"expected {t}, got {v!r}")
        try:
            out += struct.pack(_FIXED[t], v)
        except struct.error:
            raise CandidError(f"{v!r} does not fit in {t}") from None
    elif t == "text":
        if not isinstance(v, str):
            raise CandidError(f"expected text, got {v!r}")
        b = v.encode()
        out += uleb(len(b)) + b
    elif t == "principal":
        if isinstance(v, str):
            v = Principal.from_text(v)
        if not isinstance(v, Principal):
            raise CandidError(f"expected principal, got {v!r}")
        out += b"\x01" + uleb(len(v.raw)) + v.raw
    elif t == "empty":
        raise CandidError("no value has type empty")
    else:
        raise CandidError(f"unknown type {t!r}")


# -- decoding ------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes) -> None:
        self.b = data
        self.p = 0
        self.values = 0
        self.depth = 0

    def byte(self) -> int:
        if self.p >= len(self.b):
            raise CandidError("truncated Candid message")
        x = self.b[self.p]
        self.p += 1
        return x

    def take(self, n: int) -> bytes:
        if self.p + n > len(self.b):
            raise CandidError("truncated Candid message")
        s = self.b[self.p:self.p + n]
        self.p += n
        return s

    def uleb(self) -> int:
        r = s = 0
        while True:
            x = self.byte()
            r |= (x & 0x7F) << s
            s += 7
            if x < 0x80:
                return r

    def sleb(self) -> int:
        r = s = 0
        while True:
            x = self.byte()
            r |= (x & 0x7F) << s
            s += 7
            if x < 0x80:
                return r - (1 << s) if x & 0x40 else r


def decode(data: bytes, names: dict[int, str] | None = None) -> tuple[list[Type], list[Any]]:
    """Decode a Candid message into (wire types, values); field ids become names where `names` knows them.

    Untrusted bytes: any malformed message is a `CandidError` (never another exception)."""
    r = _Reader(bytes(data))
    try:
        return _decode(r, names or {})
    except CandidError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, UnicodeError, struct.error,
            RecursionError) as e:
        raise CandidError(f"malformed Candid message at byte {r.p}: {type(e).__name__}: {e}") from None


def _decode(r: _Reader, names: dict[int, str]) -> tuple[list[Type], list[Any]]:
    if r.take(4) != MAGIC:
        raise CandidError("not a Candid message (no DIDL header)")
    table: list[Any] = []
    for _ in range(r.uleb()):
        code = r.sleb()
        if code in (-18, -19):
            table.append(("opt" if code == -18 else "vec", r.sleb()))
        elif code in (-20, -21):
            fields = []
            last = -1
            for _ in range(r.uleb()):
                fid = r.uleb()
                if fid <= last:
                    raise CandidError("record/variant fields out of order")
                last = fid
                fields.append((fid, names.get(fid), r.sleb()))
            table.append(("record" if code == -20 else "variant", tuple(fields)))
        elif code == -22:
            args = tuple(r.sleb() for _ in range(r.uleb()))
            rets = tuple(r.sleb() for _ in range(r.uleb()))
            modes = tuple(r.byte() for _ in range(r.uleb()))
            table.append(("func", args, rets, modes))
        elif code == -23:
            ms = []
            for _ in range(r.uleb()):
                n = r.take(r.uleb()).decode()
                ms.append((n, r.sleb()))
            table.append(("service", tuple(ms)))
        else:
            raise CandidError(f"bad type table entry {code}")
    for entry in table:  # every reference must name a primitive or a table entry
        refs = [entry[1]] if entry[0] in ("opt", "vec") else [t for _f, _n, t in entry[1]] \
            if entry[0] in ("record", "variant") else [*entry[1], *entry[2]] if entry[0] == "func" else \
            [t for _n, t in entry[1]]
        for ref in refs:
            if ref >= len(table) or (ref < 0 and ref not in PRIM_BY_CODE):
                raise CandidError(f"type table refers to unknown type {ref}")

    def typ(ref: int, depth: int = 0) -> Type:
        if ref < 0:
            if ref not in PRIM_BY_CODE:
                raise CandidError(f"unknown primitive type {ref}")
            return PRIM_BY_CODE[ref]
        if ref >= len(table):
            raise CandidError(f"type index {ref} out of range")
        if depth > 20:
            return ("ref", f"t{ref}")
        e = table[ref]
        if e[0] in ("opt", "vec"):
            inner = typ(e[1], depth + 1)
            return "blob" if e[0] == "vec" and inner == "nat8" else (e[0], inner)
        if e[0] in ("record", "variant"):
            return (e[0], tuple((f, n, typ(t, depth + 1)) for f, n, t in e[1]))
        return e[0]

    arg_refs = [r.sleb() for _ in range(r.uleb())]
    for ref in arg_refs:
        if ref >= len(table) or (ref < 0 and ref not in PRIM_BY_CODE):
            raise CandidError(f"argument of unknown type {ref}")
    values = [_dec(r, table, a, names) for a in arg_refs]
    return [typ(a) for a in arg_refs], values


def _dec(r: _Reader, table: list[Any], ref: int, names: dict[int, str]) -> Any:
    r.values += 1
    if r.values > MAX_VALUES:
        raise CandidError(f"Candid message holds more than {MAX_VALUES} values")
    if ref < 0:
        return _dec_prim(r, ref)
    r.depth += 1
    if r.depth > MAX_NESTING:
        raise CandidError(f"Candid value nested more than {MAX_NESTING} levels deep")
    try:
        return _dec_composite(r, table, ref, names)
    finally:
        r.depth -= 1


def _dec_prim(r: _Reader, ref: int) -> Any:
    t = PRIM_BY_CODE.get(ref)
    if t in ("null", "reserved"):
        return None
    if t == "bool":
        b = r.byte()
        if b > 1:
            raise CandidError("bad bool")
        return b == 1
    if t == "nat":
        return r.uleb()
    if t == "int":
        return r.sleb()
    if t in _FIXED:
        fmt = _FIXED[t]
        return struct.unpack(fmt, r.take(struct.calcsize(fmt)))[0]
    if t == "text":
        try:
            return r.take(r.uleb()).decode()
        except UnicodeDecodeError:
            raise CandidError("text is not UTF-8") from None
    if t == "principal":
        if r.byte() != 1:
            raise CandidError("opaque principal references are not supported")
        return Principal(r.take(r.uleb()))
    raise CandidError(f"cannot decode type {t}")


def _dec_composite(r: _Reader, table: list[Any], ref: int, names: dict[int, str]) -> Any:
    e = table[ref]
    kind = e[0]
    if kind == "opt":
        flag = r.byte()
        return None if flag == 0 else _dec(r, table, e[1], names)
    if kind == "vec":
        n = r.uleb()
        if e[1] == -5:
            return r.take(n)
        return [_dec(r, table, e[1], names) for _ in range(n)]
    if kind == "record":
        fields = e[1]
        tuple_like = all(f == i for i, (f, _n, _t) in enumerate(fields))
        vals = {(n or (str(f) if tuple_like else names.get(f, f"_{f}_"))): _dec(r, table, t, names)
                for f, n, t in fields}
        return vals
    if kind == "variant":
        i = r.uleb()
        if i >= len(e[1]):
            raise CandidError("variant index out of range")
        f, n, t = e[1][i]
        return {n or names.get(f, f"_{f}_"): _dec(r, table, t, names)}
    if kind == "service":
        r.byte()
        return _dec_prim(r, -24)
    if kind == "func":
        r.byte()
        r.byte()
        return (_dec_prim(r, -24), _dec_prim(r, -15))
    raise CandidError(f"cannot decode {kind}")


def field_names(types: list[Type], env: dict[str, Type]) -> dict[int, str]:
    """Every record/variant field name reachable from `types` and `env`, by id."""
    out: dict[int, str] = {}
    seen: set[int] = set()

    def walk(t: Type) -> None:
        if not isinstance(t, tuple) or id(t) in seen:
            return
        seen.add(id(t))
        if t[0] in ("record", "variant"):
            for fid, name, ft in t[1]:
                if name is not None:
                    out[fid] = name
                walk(ft)
        elif t[0] in ("opt", "vec"):
            walk(t[1])
        elif t[0] == "func":
            for a in (*t[1], *t[2]):
                walk(a)
        elif t[0] == "service":
            for _n, mt in t[1]:
                walk(mt)

    for t in (*types, *env.values()):
        walk(t)
    return out
