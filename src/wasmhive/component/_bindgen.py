"""`bindgen`: typed Python stubs for a component's exports, so editors and mypy know the signatures.

The output is a small package: `__init__.py` (a `load()` helper around `Runtime.component`) and
`__init__.pyi` with `Protocol`s mirroring the exports namespace, one class per record, a
`Literal` per enum, and the resource handle protocols. Nothing in it is needed at run time.
"""

from __future__ import annotations

import keyword
import os
from pathlib import Path

import wasmhive.component._model as m

from ._convert import pyname
from ._values import class_name

__all__ = ["generate", "write_package"]


def _ident(name: str) -> str:
    out = pyname(name)
    return out + "_" if keyword.iskeyword(out) else out


class _Gen:
    def __init__(self, sig: m.Signature) -> None:
        self.sig = sig
        self.records: dict[m.Record, str] = {}
        self.record_defs: list[str] = []
        self.taken: set[str] = set()
        # Handles of resources the component exports have stub classes; imported (host) ones do not.
        self.exported_resources = {r for item in sig.exports.values() if isinstance(item, m.InterfaceSig)
                                   for r in item.resources}

    def _fresh(self, base: str) -> str:
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}{n}", n + 1
        self.taken.add(name)
        return name

    def record(self, ty: m.Record) -> str:
        if ty in self.records:
            return self.records[ty]
        name = self._fresh(class_name(ty.name) if ty.name else "Record")
        self.records[ty] = name
        fields = [(_ident(n), self.out(t)) for n, t in ty.fields]
        params = ", ".join(f"{f}: {self.arg(t)}" for (f, _), (_, t) in zip(fields, ty.fields, strict=True))
        lines = [f"class {name}(_wc.Record):", f'    """WIT record {ty.name or ""}."""'.replace(' ."', '."')]
        lines += [f"    {f}: {t}" for f, t in fields]
        lines += [f"    def __init__(self, {params}) -> None: ...", ""]
        self.record_defs.append("\n".join(lines))
        return name

    def out(self, ty: m.WitType | None) -> str:
        """The Python type of a value coming out of the component."""
        if ty is None:
            return "None"
        if isinstance(ty, m.Prim):
            return {"bool": "bool", "f32": "float", "f64": "float", "char": "str", "string": "str"}.get(ty.name, "int")
        if isinstance(ty, m.ListOf):
            if ty.elem == m.Prim("u8"):
                return "bytes"
            return f"list[{self.out(ty.elem)}]"
        if isinstance(ty, m.TupleOf):
            return f"tuple[{', '.join(self.out(e) for e in ty.elems)}]" if ty.elems else "tuple[()]"
        if isinstance(ty, m.Record):
            return self.record(ty)
        if isinstance(ty, m.Variant):
            return "_wc.Variant"
        if isinstance(ty, m.Enum):
            return "_t.Literal[" + ", ".join(repr(n) for n in ty.names) + "]"
        if isinstance(ty, m.Flags):
            return "set[str]"
        if isinstance(ty, m.OptionOf):
            inner = self.out(ty.inner)
            return f"_wc.Some | None" if isinstance(ty.inner, m.OptionOf) else f"{inner} | None"  # noqa: F541
        if isinstance(ty, m.ResultOf):
            return "_wc.Ok | _wc.Err"
        if isinstance(ty, (m.Own, m.Borrow)):
            return class_name(ty.resource) if ty.resource in self.exported_resources else "_t.Any"
        return "_t.Any"

    def arg(self, ty: m.WitType) -> str:
        """The Python types accepted for an argument (wider than what comes out)."""
        if isinstance(ty, m.Prim) and ty.name in ("f32", "f64"):
            return "float"  # int is accepted where float is expected by the type system already
        if isinstance(ty, m.ListOf):
            if ty.elem == m.Prim("u8"):
                return "bytes | bytearray | memoryview"
            return f"_abc.Sequence[{self.arg(ty.elem)}]"
        if isinstance(ty, m.TupleOf):
            return f"tuple[{', '.join(self.arg(e) for e in ty.elems)}]" if ty.elems else "tuple[()]"
        if isinstance(ty, m.Record):
            return f"{self.record(ty)} | _abc.Mapping[str, _t.Any]"
        if isinstance(ty, m.Variant):
            return "_wc.Variant | _abc.Mapping[str, _t.Any] | str"
        if isinstance(ty, m.Flags):
            return "_abc.Set[str] | _abc.Sequence[str]"
        if isinstance(ty, m.OptionOf):
            return f"{self.arg(ty.inner)} | _wc.Some | None"
        if isinstance(ty, m.ResultOf):
            return "_t.Any"
        return self.out(ty)

    def func(self, f: m.FuncSig, *, skip_self: bool = False) -> str:
        params = list(f.params[1:] if skip_self else f.params)
        args = "".join(f", {_ident(n)}: {self.arg(t)}" for n, t in params)
        result = f.result.ok if isinstance(f.result, m.ResultOf) else f.result
        ret = self.out(result)
        doc = f"    def {_ident(f.short)}(self{args}) -> {ret}:\n        \"\"\"{f.wit()}"
        if isinstance(f.result, m.ResultOf):
            doc += f"; raises ResultError({self.out(f.result.err)}) for err"
        return doc + '"""\n'

    def resource(self, iface: m.InterfaceSig, res: str) -> list[str]:
        cls = class_name(res)
        methods = [f for f in iface.funcs.values() if f.resource == res and f.kind == "method"]
        statics = [f for f in iface.funcs.values() if f.resource == res and f.kind == "static"]
        ctor = iface.funcs.get(f"[constructor]{res}")
        out = [f"class {cls}(_t.Protocol):", f'    """A handle to resource {res} (close it, or use `with`)."""']
        out += [self.func(f, skip_self=True) for f in methods]
        out += ["    def close(self) -> None: ...", f"    def __enter__(self) -> {cls}: ...",
                "    def __exit__(self, *exc: object) -> None: ...", ""]
        out += [f"class {cls}Class(_t.Protocol):"]
        if ctor is not None:
            args = "".join(f", {_ident(n)}: {self.arg(t)}" for n, t in ctor.params)
            out.append(f"    def __call__(self{args}) -> {cls}: ...")
        out += [self.func(f) for f in statics]
        if ctor is None and not statics:
            out.append("    pass")
        return [*out, ""]

    def interface(self, iface: m.InterfaceSig, cls: str) -> list[str]:
        lines: list[str] = []
        for res in iface.resources:
            lines += self.resource(iface, res)
        lines += [f"class {cls}(_t.Protocol):", f'    """Interface {iface.name}."""']
        lines += [self.func(f) for f in iface.funcs.values() if f.kind == "freestanding"]
        lines += [f"    {class_name(r)}: {class_name(r)}Class" for r in iface.resources]
        return [*lines, ""]


    def provider(self, iface: m.InterfaceSig, cls: str) -> list[str]:
        """A Protocol a host object serving import `iface` satisfies (what it receives, what it may return)."""
        lines = [f"class {cls}(_t.Protocol):",
                 f'    """Serves import {iface.name}: pass it as imports={{"{iface.name}": obj}}."""']
        for f in iface.funcs.values():
            if f.kind != "freestanding":
                continue
            args = "".join(f", {_ident(n)}: {self.out(t)}" for n, t in f.params)
            result = f.result.ok if isinstance(f.result, m.ResultOf) else f.result
            ret = "None" if result is None else self.arg(result)
            note = "; raise ResultError(...) for err" if isinstance(f.result, m.ResultOf) else ""
            lines.append(f"    def {_ident(f.name)}(self{args}) -> {ret}:\n        \"\"\"{f.wit()}{note}\"\"\"\n")
        for r in iface.resources:
            lines.append(f"    {class_name(r)}: type  # the class implementing resource {r}")
        if len(lines) == 2:
            lines.append("    pass")
        return [*lines, ""]


def provider_names(sig: m.Signature) -> dict[str, str]:
    """Import interface name → the name of its provider Protocol in the stubs (WASI imports excluded)."""
    return {n: class_name(m.wit_name(n).replace("_", "-")) + "Provider" for n, item in sig.imports.items()
            if isinstance(item, m.InterfaceSig) and not n.startswith("wasi:")}


def generate(sig: m.Signature, name: str) -> str:
    """The `.pyi` text for a component with signature `sig`; `name` is the component's class name."""
    g = _Gen(sig)
    cls = class_name(name.replace("_", "-")) or "Component"
    g.taken.update({cls, f"{cls}Exports", f"{cls}Instance", "load"})
    body: list[str] = []
    attrs: list[str] = []
    shorts: dict[str, list[str]] = {}
    for iname, item in sig.exports.items():
        if isinstance(item, m.InterfaceSig):
            shorts.setdefault(pyname(iname.split("@", 1)[0].rsplit("/", 1)[-1].rsplit(":", 1)[-1]), []).append(iname)
    for iname, item in sig.exports.items():
        if isinstance(item, m.InterfaceSig):
            icls = g._fresh(class_name(m.wit_name(iname).replace("_", "-")))
            body += g.interface(item, icls)
            attrs.append(f"    {m.wit_name(iname)}: {icls}")
            short = pyname(iname.split("@", 1)[0].rsplit("/", 1)[-1].rsplit(":", 1)[-1])
            if len(shorts[short]) == 1 and short != m.wit_name(iname) and short not in sig.exports:
                attrs.append(f"    {short}: {icls}")
    funcs = [g.func(f) for f in sig.exports.values() if isinstance(f, m.FuncSig)]
    for iname, pcls in provider_names(sig).items():
        item = sig.imports[iname]
        assert isinstance(item, m.InterfaceSig)
        g.taken.add(pcls)
        body += g.provider(item, pcls)
    head = [
        f'"""Typed stubs for the {name} component (generated by `wasmhive bindgen`; do not edit)."""',
        "",
        "import collections.abc as _abc",
        "import os as _os",
        "import typing as _t",
        "",
        "import wasmhive as _wasmhive",
        "import wasmhive.component as _wc",
        "",
    ]
    exports_cls = [f"class {cls}Exports(_t.Protocol):", f'    """The exports of {name}."""', *funcs, *attrs, ""]
    comp = [
        f"class {cls}Instance(_t.Protocol):",
        f"    exports: {cls}Exports",
        "    def close(self) -> None: ...",
        "",
        f"class {cls}(_t.Protocol):",
        f'    """The {name} component, ready to call."""',
        f"    exports: {cls}Exports",
        f"    def instantiate(self) -> {cls}Instance: ...",
        "    def close(self) -> None: ...",
        "",
        f"def load(runtime: _wasmhive.Runtime, source: str | _os.PathLike[str] | bytes | None = None, **options: _t.Any) -> {cls}:",
        '    """`runtime.component(source or the .wasm this was generated from, **options)`, typed."""',
        "",
    ]
    return "\n".join([*head, *g.record_defs, *body, *exports_cls, *comp]).rstrip() + "\n"


def write_package(sig: m.Signature, name: str, out: Path, wasm: Path | None) -> list[Path]:
    """Write `out/__init__.py` (runtime helper) and `out/__init__.pyi` (the stubs); return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    # The .wasm is named relative to the package, never by an absolute path: the output stays the same on
    # every machine and checkout (and names no home directory), and moving both together keeps it working.
    default = "None" if wasm is None else f"_os.path.join(_os.path.dirname(__file__), {_relative(wasm, out)!r})"
    init = out / "__init__.py"
    init.write_text(
        f'"""Typed bindings for the {name} component (generated by `wasmhive bindgen`; do not edit).\n\n'
        f"    calc = load(runtime)            # typed: see __init__.pyi\n"
        f'"""\n\nimport os as _os\nfrom typing import Any\n\nDEFAULT_SOURCE = {default}\n\n\n'
        f"def load(runtime: Any, source: Any = None, **options: Any) -> Any:\n"
        f'    """`runtime.component(source or DEFAULT_SOURCE, **options)`."""\n'
        f"    if source is None and DEFAULT_SOURCE is None:\n"
        f'        raise ValueError("no source given and the bindings were generated without a .wasm path")\n'
        f"    return runtime.component(DEFAULT_SOURCE if source is None else source, **options)\n"
        + "".join(f"\n\n{p} = object  # a Protocol in __init__.pyi (for type checkers only)\n"
                  for p in provider_names(sig).values()))
    stub = out / "__init__.pyi"
    stub.write_text(generate(sig, name))
    (out / "py.typed").write_text("")
    return [init, stub]


def _relative(wasm: Path, out: Path) -> str:
    """`wasm` as a POSIX path relative to the package directory `out` (its bare name if none exists)."""
    try:
        return Path(os.path.relpath(wasm.resolve(), out.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return wasm.name
