"""Candid text: `.did` service descriptions, argument values as `dfx` writes them, and printing replies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ._candid import MAX_NESTING, PRIMS, CandidError, Type, idl_hash
from ._principal import Principal

__all__ = ["Method", "Service", "format_args", "format_type", "from_json", "parse_args", "parse_did", "signature",
           "to_json"]

_TOKEN = re.compile(r"""\s+|//[^\n]*|/\*.*?\*/|(?P<arrow>->)|(?P<str>"(?:[^"\\]|\\.)*")|"""
                    r"""(?P<num>[+-]?(?:0x[0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?))|"""
                    r"""(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<p>[(){};:,=])""", re.S)


@dataclass
class Method:
    """One method of a service: argument and result types and its mode."""

    name: str
    args: list[Type]
    rets: list[Type]
    modes: tuple[str, ...] = ()

    @property
    def is_query(self) -> bool:
        return "query" in self.modes or "composite_query" in self.modes


@dataclass
class Service:
    """A parsed `.did`: named types and methods."""

    env: dict[str, Type] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict)
    init: list[Type] = field(default_factory=list)


def _tokens(text: str) -> tuple[list[tuple[str, str]], list[int]]:
    """The tokens of `text` and where each starts (for error messages)."""
    out: list[tuple[str, str]] = []
    where: list[int] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise CandidError(f"unexpected character {text[pos]!r} at character {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        if kind:
            out.append((kind, m.group(kind)))
            where.append(pos)
        pos = m.end()
    out.append(("eof", ""))
    where.append(len(text))
    return out, where


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks, self.where = _tokens(text)
        self.i = 0
        self.depth = 0

    def position(self) -> int:
        """Where the token read last starts: what an error message points at."""
        return self.where[max(self.i - 1, 0)]

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise CandidError(f"nested more than {MAX_NESTING} levels deep")

    def guarded(self, what: str, fn: Any) -> Any:
        """Run `fn()`; any failure becomes one CandidError naming the position (never a Python error)."""
        try:
            return fn()
        except CandidError as e:
            raise CandidError(f"bad Candid {what} at character {self.position()}: {e}") from None
        except (ValueError, IndexError, KeyError, TypeError, OverflowError, UnicodeError, RecursionError) as e:
            raise CandidError(f"bad Candid {what} at character {self.position()}: {type(e).__name__}: {e}") \
                from None

    def peek(self, k: int = 0) -> tuple[str, str]:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> tuple[str, str]:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def expect(self, value: str) -> None:
        t = self.next()
        if t[1] != value:
            raise CandidError(f"expected {value!r}, got {t[1] or 'end of input'!r}")

    def accept(self, value: str) -> bool:
        if self.peek()[1] == value and self.peek()[0] != "str":
            self.i += 1
            return True
        return False

    # -- types ---------------------------------------------------------------------------------------
    def typ(self) -> Type:
        self.nest()
        try:
            return self._typ()
        finally:
            self.depth -= 1

    def _typ(self) -> Type:
        kind, v = self.next()
        if kind != "id":
            raise CandidError(f"expected a type, got {v!r}")
        if v in PRIMS or v == "blob":
            return v
        if v in ("opt", "vec"):
            return (v, self.typ())
        if v in ("record", "variant"):
            return (v, self.fields(v == "variant"))
        if v == "func":
            return self.functype()
        if v == "service":
            return ("service", tuple(self.methods().items()))
        return ("ref", v)

    def fields(self, variant: bool) -> tuple[tuple[int, str | None, Type], ...]:
        self.expect("{")
        out = []
        pos = 0
        while not self.accept("}"):
            kind, v = self.peek()
            if self.peek(1)[1] == ":" and kind in ("id", "str", "num"):
                self.next()
                self.next()
                name = v[1:-1] if kind == "str" else v
                if kind == "num":
                    fid, fname = _field_id(v), None
                else:
                    fid, fname = idl_hash(name), name
                out.append((fid, fname, self.typ()))
            elif variant and kind in ("id", "str") and self.peek(1)[1] in (";", "}"):
                self.next()
                name = v[1:-1] if kind == "str" else v
                out.append((idl_hash(name), name, "null"))
            else:
                out.append((pos, None, self.typ()))
            pos += 1
            if not self.accept(";"):
                self.expect("}")
                break
        return tuple(sorted(out, key=lambda f: f[0]))

    def argtypes(self) -> list[Type]:
        self.expect("(")
        out = []
        while not self.accept(")"):
            if self.peek()[0] == "id" and self.peek(1)[1] == ":":
                self.next()
                self.next()
            out.append(self.typ())
            if not self.accept(","):
                self.expect(")")
                break
        return out

    def functype(self) -> Type:
        args = self.argtypes()
        self.expect("->")
        rets = self.argtypes()
        modes = []
        while self.peek()[1] in ("query", "oneway", "composite_query"):
            modes.append(self.next()[1])
        return ("func", tuple(args), tuple(rets), tuple(modes))

    def methods(self) -> dict[str, Type]:
        self.expect("{")
        out: dict[str, Type] = {}
        while not self.accept("}"):
            kind, v = self.next()
            name = v[1:-1] if kind == "str" else v
            self.expect(":")
            out[name] = self.functype() if self.peek()[1] == "(" else self.typ()
            self.accept(";")
        return out


def parse_did(text: str) -> Service:
    """Parse a `.did` file (type definitions and the `service`)."""
    p = _Parser(text)
    svc: Service = p.guarded("interface", lambda: _parse_did(p))
    return svc


def _parse_did(p: _Parser) -> Service:
    svc = Service()
    while p.peek()[0] != "eof":
        _kind, v = p.next()
        if v == "type":
            name = p.next()[1]
            p.expect("=")
            svc.env[name] = p.typ()
            p.accept(";")
        elif v == "import":
            p.next()
            p.accept(";")
        elif v == "service":
            if p.peek()[0] == "id" and p.peek(1)[1] == ":":
                p.next()
            p.expect(":")
            if p.peek()[1] == "(":
                svc.init = p.argtypes()
                p.expect("->")
            if p.peek()[1] == "{":
                methods = p.methods()
            else:
                ref = p.typ()
                while isinstance(ref, tuple) and ref[0] == "ref":
                    ref = svc.env[ref[1]]
                methods = dict(ref[1])
            for name, ft in methods.items():
                while isinstance(ft, tuple) and ft[0] == "ref":
                    ft = svc.env[ft[1]]
                svc.methods[name] = Method(name, list(ft[1]), list(ft[2]), tuple(ft[3]))
            p.accept(";")
        else:
            raise CandidError(f"unexpected {v!r} in .did")
    return svc


# -- values ----------------------------------------------------------------------------------------------
_SIMPLE_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "'": b"'", "\\": b"\\"}
_HEX = set("0123456789abcdefABCDEF")


def _field_id(v: str) -> int:
    txt = v.replace("_", "")
    n = int(txt, 16) if txt.lower().startswith("0x") else int(txt, 10)
    if not 0 <= n < 1 << 32:
        raise CandidError(f"field id {v} is not a 32-bit natural number")
    return n


def _unescape(s: str) -> bytes:
    """The bytes of a quoted literal: `\\n`-style, `\\XX` (two hex digits) and `\\u{X...}` escapes."""
    out = bytearray()
    i = 0
    body = s[1:-1]
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        n = body[i + 1] if i + 1 < len(body) else ""
        if n in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[n]
            i += 2
        elif n == "u":
            j = body.find("}", i)
            digits = body[i + 3:j].replace("_", "") if body[i + 2:i + 3] == "{" and j > 0 else ""
            if not digits or len(digits) > 6 or not set(digits) <= _HEX:
                raise CandidError(f"bad unicode escape {body[i:i + 12]!r}: use \\u{{X}} with 1 to 6 hex digits")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise CandidError(f"\\u{{{digits}}} is not a Unicode scalar value")
            out += chr(code).encode()
            i = j + 1
        elif len(body) >= i + 3 and set(body[i + 1:i + 3]) <= _HEX:
            out.append(int(body[i + 1:i + 3], 16))
            i += 3
        else:
            raise CandidError(f"bad escape {body[i:i + 4]!r} (use \\n \\t \\r \\\\ \\\" \\' \\XX or \\u{{X}})")
    return bytes(out)


class _ValueParser(_Parser):
    def value(self) -> tuple[Any, Type | None]:
        self.nest()
        try:
            return self._value()
        finally:
            self.depth -= 1

    def _value(self) -> tuple[Any, Type | None]:
        kind, v = self.next()
        if v == "(" and kind == "p":
            val, t = self.value()
            self.expect(")")
            return val, t
        if kind == "num":
            txt = v.replace("_", "")
            if "." in txt or ("e" in txt.lower() and not txt.lower().startswith(("0x", "-0x", "+0x"))):
                return self.annot(float(txt), "float64")
            body = txt.lstrip("+-")
            n = int(body, 16) if body.lower().startswith("0x") else int(body, 10)
            return self.annot(-n if txt.startswith("-") else n, "int" if txt.startswith(("-", "+")) else "nat")
        if kind == "str":
            try:
                return self.annot(_unescape(v).decode(), "text")
            except UnicodeDecodeError:
                raise CandidError(f"text literal is not UTF-8: {v}") from None
        if v in ("true", "false"):
            return self.annot(v == "true", "bool")
        if v == "null":
            return self.annot(None, "null")
        if v == "opt":
            inner, it = self.value()
            return self.annot(inner, ("opt", it or "reserved"))
        if v == "principal":
            k2, s = self.next()
            if k2 != "str":
                raise CandidError("principal needs a quoted text")
            return self.annot(Principal.from_text(s[1:-1]), "principal")
        if v == "blob":
            k2, s = self.next()
            if k2 != "str":
                raise CandidError("blob needs a quoted literal")
            return self.annot(_unescape(s), "blob")
        if v == "vec":
            self.expect("{")
            items, types = [], []
            while not self.accept("}"):
                val, t = self.value()
                items.append(val)
                types.append(t)
                if not self.accept(";"):
                    self.expect("}")
                    break
            return self.annot(items, ("vec", types[0] if types and types[0] else "reserved"))
        if v in ("record", "variant"):
            self.expect("{")
            vals: dict[str, Any] = {}
            ftypes = []
            pos = 0
            while not self.accept("}"):
                k, name = self.peek()
                if self.peek(1)[1] == "=" and k in ("id", "str", "num"):
                    self.next()
                    self.next()
                    key = name[1:-1] if k == "str" else name
                    val, t = self.value()
                elif v == "variant":
                    self.next()
                    key, val, t = (name[1:-1] if k == "str" else name), None, "null"
                else:
                    key = str(pos)
                    val, t = self.value()
                pos += 1
                vals[key] = val
                fid = _field_id(key) if k == "num" or key.isdigit() else idl_hash(key)
                ftypes.append((fid, None if key.isdigit() else key, t or "reserved"))
                if not self.accept(";"):
                    self.expect("}")
                    break
            return self.annot(vals, (v, tuple(sorted(ftypes, key=lambda f: f[0]))))
        raise CandidError(f"unexpected {v!r} in a Candid value")

    def annot(self, val: Any, t: Type | None) -> tuple[Any, Type | None]:
        if self.accept(":"):
            t = self.typ()
            if isinstance(val, float) and t in ("nat", "int") and not val.is_integer():
                raise CandidError(f"{val} is not an integer")
        return val, t


def parse_args(text: str) -> tuple[list[Any], list[Type]]:
    """Parse a Candid argument tuple `(v1, v2, ...)` (a lone value is accepted too).

    Any mistake is one `CandidError` that gives its position; values nest at most `MAX_NESTING` deep."""
    p = _ValueParser(text)
    out: tuple[list[Any], list[Type]] = p.guarded("arguments", lambda: _parse_args(p))
    return out


def _parse_args(p: _ValueParser) -> tuple[list[Any], list[Type]]:
    vals: list[Any] = []
    types: list[Type] = []
    if p.peek()[0] == "eof":
        return vals, types
    if p.peek()[1] == "(":
        # A tuple unless the parenthesised thing is one annotated value followed by more input.
        p.next()
        while not p.accept(")"):
            v, t = p.value()
            vals.append(v)
            types.append(t)
            if not p.accept(","):
                p.expect(")")
                break
    else:
        v, t = p.value()
        vals.append(v)
        types.append(t)
    if p.peek()[0] != "eof":
        raise CandidError(f"unexpected {p.peek()[1]!r} after the arguments")
    return vals, types


def _num(n: int) -> str:
    s = str(abs(n))
    groups: list[str] = []
    while len(s) > 3:
        groups.insert(0, s[-3:])
        s = s[:-3]
    groups.insert(0, s)
    return ("-" if n < 0 else "") + "_".join(groups)


def _quote(b: bytes) -> str:
    out = []
    for x in b:
        c = chr(x)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif 0x20 <= x < 0x7F:
            out.append(c)
        else:
            out.append(f"\\{x:02x}")
    return '"' + "".join(out) + '"'


def _text(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def format_value(v: Any, t: Type, env: dict[str, Type] | None = None) -> str:
    """One value in Candid text form (as dfx prints it)."""
    env = env or {}
    while isinstance(t, tuple) and t[0] == "ref":
        t = env.get(t[1], "reserved")
    if isinstance(t, str):
        if t in ("nat", "int") or t[:3] in ("nat", "int"):
            return f"{_num(v)} : {t}"
        if t.startswith("float"):
            return f"{v!r} : {t}"
        if t == "text":
            return _text(v)
        if t == "bool":
            return "true" if v else "false"
        if t in ("null", "reserved"):
            return "null"
        if t == "principal":
            return f'principal "{v.text}"'
        if t == "blob":
            return "blob " + _quote(v)
        return repr(v)
    kind = t[0]
    if kind == "opt":
        return "null" if v is None else "opt " + _wrap(format_value(v, t[1], env))
    if kind == "vec":
        if not v:
            return "vec {}"
        return "vec { " + " ".join(format_value(x, t[1], env) + ";" for x in v) + " }"
    if kind == "record":
        if not t[1]:
            return "record {}"
        tuple_like = all(f == i for i, (f, _n, _t) in enumerate(t[1]))
        parts = []
        for fid, name, ft in t[1]:
            key = name if name is not None and name in v else str(fid) if str(fid) in v else f"_{fid}_"
            val = v.get(key)
            parts.append(format_value(val, ft, env) if tuple_like else f"{_label(name, fid)} = {format_value(val, ft, env)}")
        return "record { " + " ".join(p + ";" for p in parts) + " }"
    if kind == "variant":
        (tag, val), = v.items()
        for fid, name, ft in t[1]:
            if tag in (name, f"_{fid}_", str(fid)):
                rt = ft
                while isinstance(rt, tuple) and rt[0] == "ref":
                    rt = env.get(rt[1], "reserved")
                if rt == "null":
                    return f"variant {{ {_label(name, fid)} }}"
                return f"variant {{ {_label(name, fid)} = {format_value(val, ft, env)} }}"
        return f"variant {{ {tag} }}"
    if kind == "service":
        return f'service "{v.text}"'
    if kind == "func":
        return f'func "{v[0].text}".{v[1]}'
    return repr(v)


def format_type(t: Type) -> str:
    """A type in Candid text (`record { owner : principal; sub : opt blob }`)."""
    if isinstance(t, str):
        return t
    kind = t[0]
    if kind == "ref":
        return str(t[1])
    if kind in ("opt", "vec"):
        return f"{kind} {format_type(t[1])}"
    if kind in ("record", "variant"):
        parts = [format_type(ft) if name is None and kind == "record" else
                 _label(name, fid) if kind == "variant" and ft == "null" else
                 f"{_label(name, fid)} : {format_type(ft)}" for fid, name, ft in t[1]]
        return f"{kind} {{ " + "".join(p + "; " for p in parts) + "}" if parts else f"{kind} {{}}"
    if kind == "func":
        return signature(list(t[1]), list(t[2]), tuple(t[3]))
    if kind == "service":
        return "service { " + "".join(f"{n} : {format_type(mt)}; " for n, mt in t[1]) + "}"
    return repr(t)


def signature(args: list[Type], rets: list[Type], modes: tuple[str, ...] = ()) -> str:
    """A method signature in Candid text: `(principal, nat64) -> (nat64) query`."""
    text = "(" + ", ".join(format_type(a) for a in args) + ") -> (" + ", ".join(format_type(r) for r in rets) + ")"
    return text + "".join(" " + m for m in modes)


def _label(name: str | None, fid: int) -> str:
    if name is None:
        return str(fid)
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else _text(name)


def _wrap(s: str) -> str:
    return f"({s})" if " : " in s else s


def format_args(values: list[Any], types: list[Type], env: dict[str, Type] | None = None) -> str:
    """A reply in Candid text: `(v1, v2)`."""
    return "(" + ", ".join(format_value(v, t, env) for v, t in zip(values, types, strict=True)) + ")"


# -- JSON ------------------------------------------------------------------------------------------------
def to_json(v: Any) -> Any:
    """A decoded Candid value as JSON-able data (principals as text, blobs as hex)."""
    if isinstance(v, Principal):
        return v.text
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


def from_json(t: Type, v: Any, env: dict[str, Type], depth: int = 0) -> Any:
    """Coerce JSON data to the Python value `encode` expects for type `t` (CandidError if it cannot)."""
    if depth > MAX_NESTING:
        raise CandidError(f"JSON argument nested more than {MAX_NESTING} levels deep")
    try:
        return _from_json(t, v, env, depth)
    except CandidError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CandidError(f"JSON value {_short(v)} does not fit Candid type {format_type(t)}: "
                          f"{type(e).__name__}: {e}") from None


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _from_json(t: Type, v: Any, env: dict[str, Type], depth: int) -> Any:
    seen = 0
    while isinstance(t, tuple) and t[0] == "ref":
        t = env[t[1]]
        seen += 1
        if seen > 100:
            raise CandidError("type definition cycle without a constructor")
    if isinstance(t, str):
        if t == "principal" and isinstance(v, str):
            return Principal.from_text(v)
        if t == "blob" and isinstance(v, str):
            return bytes.fromhex(v)
        if (t in ("nat", "int") or t[:3] in ("nat", "int")) and isinstance(v, str):
            return int(v.replace("_", ""))
        return v
    kind = t[0]
    if kind == "opt":
        return None if v is None else from_json(t[1], v, env, depth + 1)
    if kind == "vec":
        if isinstance(v, str) and t[1] == "nat8":
            return bytes.fromhex(v)
        return [from_json(t[1], x, env, depth + 1) for x in v]
    if kind == "record":
        if isinstance(v, list):
            v = {str(i): x for i, x in enumerate(v)}
        out = {}
        for fid, name, ft in t[1]:
            key = name if name is not None and name in v else str(fid)
            if key in v:
                out[name or str(fid)] = from_json(ft, v[key], env, depth + 1)
        return out
    if kind == "variant":
        if isinstance(v, str):
            return {v: None}
        (tag, val), = v.items()
        for fid, name, ft in t[1]:
            if tag in (name, str(fid)):
                return {tag: from_json(ft, val, env, depth + 1)}
        return v
    return v
