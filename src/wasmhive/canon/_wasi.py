"""The WASI 0.2 host for canon components: today's `wasmhive.wasi` host functions, reused as they are.

`wasmhive.wasi` defines its functions on a wasmtime component `LinkerInstance` (`link_types(inst)`,
...) with `component._hostcall.define_func`, in wasmhive's typed value convention. This adapter runs
those same link functions once on a throwaway linker and keeps the Python callables they registered (a
thin shim, since the link functions take a linker, not a table of names); the canon engine calls them
with values lifted by `_abi`/`_flat`, which follow the same convention (`_values`). What wasmtime's native WASI supplied on the C-API path (random,
environment, exit, terminal) is written here; filesystem and sockets are deny-all, generated from the
component's own types (as `wasi/_deny.py` does for wasmtime types).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import wasmtime
import wasmtime.component as wc

import wasmhive.canon._types as T

from ..component import _hostcall as hc
from ..component._values import Err, ResultError, Variant
from ..errors import LinkError
from ..wasi import _linker
from ..wasi._deny import Denied
from ..wasi._io import dropper
from ..wasi._state import current

__all__ = ["WasiHost"]

_MAX_RANDOM = 1 << 20


def _capture(engine: wasmtime.Engine, base: str) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[[int], None]]]:
    """The functions and resource destructors `wasmhive.wasi` defines for interface `base`."""
    funcs: dict[str, Callable[..., Any]] = {}
    drops: dict[str, Callable[[int], None]] = {}
    linker = wc.Linker(engine)
    with _linker._lock, linker.root() as root, root.add_instance(base) as inst:
        start = len(hc._REGISTRY)
        _linker.IMPLEMENTED[base](inst)
        for item in hc._REGISTRY[start:]:
            if isinstance(item, hc._HostFunc):
                funcs[item.name] = item.func
            elif isinstance(item, tuple) and not item[2]:  # (name, dtor, with_store)
                drops[item[0]] = item[1]
    return funcs, drops


def _natives(env: list[tuple[str, str]]) -> dict[str, dict[str, Callable[..., Any]]]:
    def random_bytes(n: int) -> bytes:
        if n > _MAX_RANDOM:
            raise hc.HostTrap(f"get-random-bytes: {n} bytes asked, at most {_MAX_RANDOM}")
        return os.urandom(n)

    def u64() -> int:
        return int.from_bytes(os.urandom(8), "little")

    def exit_(status: Any) -> None:
        raise hc.HostTrap("the guest called wasi:cli/exit")

    none: Callable[[], None] = lambda: None  # noqa: E731
    return {
        "wasi:random/random": {"get-random-bytes": random_bytes, "get-random-u64": u64},
        "wasi:random/insecure": {"get-insecure-random-bytes": random_bytes, "get-insecure-random-u64": u64},
        "wasi:random/insecure-seed": {"insecure-seed": lambda: (u64(), u64())},
        "wasi:cli/environment": {"get-environment": lambda: list(env), "get-arguments": lambda: [],
                                 "initial-cwd": none},
        "wasi:cli/exit": {"exit": exit_, "exit-with-code": exit_},
        "wasi:cli/terminal-stdin": {"get-terminal-stdin": none},
        "wasi:cli/terminal-stdout": {"get-terminal-stdout": none},
        "wasi:cli/terminal-stderr": {"get-terminal-stderr": none},
    }


_DENY_CASES = ("access", "access-denied", "not-permitted", "permission-denied")


def _deny_call(ty: T.ValType | None) -> Callable[..., Any]:
    """A deny-all host function returning `ty`: `err(<denied>)` of a result (raised, as a host function
    returns it at the top level), else the type's 'nothing granted' value."""
    if isinstance(ty, T.Variant) and ty.kind == "result":
        err = _denied(ty.cases[1][1])

        def deny(*args: Any) -> Any:
            raise ResultError(err())
        return deny
    value = _denied(ty)
    return lambda *args: value()


def _denied(ty: T.ValType | None) -> Callable[[], Any]:
    """The 'nothing granted' value of `ty` (typed convention: `_values`)."""
    if ty is None:
        return lambda: None
    if isinstance(ty, T.Variant):
        if ty.kind == "result":
            err = _denied(ty.cases[1][1])
            return lambda: Err(err())
        if ty.kind == "option":
            return lambda: None
        empty = [n for n, c in ty.cases if c is None]
        name = next((n for n in _DENY_CASES if n in empty), empty[0] if empty else None)
        if name is None:
            first, payload = ty.cases[0][0], _denied(ty.cases[0][1])
            return lambda: Variant(first, payload())
        return lambda: Variant(name)
    if isinstance(ty, T.Enum):
        pick = next((n for n in _DENY_CASES if n in ty.names), ty.names[0])
        return lambda: pick
    if isinstance(ty, T.List):
        return (lambda: b"") if isinstance(ty.elem, T.Prim) and ty.elem.name == "u8" else (lambda: [])
    if isinstance(ty, T.Prim):
        value: Any = {"string": "", "bool": False, "f32": 0.0, "f64": 0.0, "char": "\0"}.get(ty.name, 0)
        return lambda: value
    if isinstance(ty, T.Record):
        fields = [(n, _denied(f)) for n, f in ty.fields]
        return lambda: {n: f() for n, f in fields}
    if isinstance(ty, T.Tuple):
        els = [_denied(e) for e in ty.elems]
        return lambda: tuple(f() for f in els)
    if isinstance(ty, T.Flags):
        return lambda: set()
    if isinstance(ty, T.Own):
        return lambda: current().table.add(Denied())
    raise LinkError(f"no deny-all value for {ty!r}")


class WasiHost:
    """Binds a canon component's WASI 0.2.x imports; anything else is a `LinkError` at preparation."""

    def __init__(self, engine: wasmtime.Engine, env: dict[str, str] | None = None) -> None:
        self.engine = engine
        self._captured: dict[str, tuple[dict[str, Callable[..., Any]], dict[str, Callable[[int], None]]]] = {}
        self._natives = _natives(list((env or {}).items()))

    def _iface(self, base: str) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[[int], None]]]:
        got = self._captured.get(base)
        if got is None:
            got = self._captured[base] = _capture(self.engine, base)
        return got

    def func(self, iface: str, name: str, ty: T.FuncType) -> Callable[..., Any]:
        parsed = _linker.wasi_version(iface)
        if parsed is None:
            raise LinkError(f"import {iface} is not provided (the canon prototype serves WASI 0.2.x only)")
        base = parsed[0]
        if base in _linker.IMPLEMENTED:
            f = self._iface(base)[0].get(name)
        elif base in self._natives:
            f = self._natives[base].get(name)
        elif base.startswith(_linker.DENIED_PACKAGES):
            return _deny_call(ty.result)
        else:
            raise LinkError(f"import {iface} is not provided by this host")
        if f is None:
            message = f"{iface}#{name} is not implemented by this host"

            def trap(*args: Any) -> None:
                raise hc.HostTrap(message)
            return trap
        return f

    def drop(self, res: T.Resource) -> Callable[[int], None]:
        iface, _, name = res.name.partition("#")
        parsed = _linker.wasi_version(iface)
        if parsed is not None and parsed[0] in _linker.IMPLEMENTED:
            dtor = self._iface(parsed[0])[1].get(name)
            if dtor is not None:
                return dtor

        # Terminal and deny-all resources: forget the rep in the request's table (closing the object).
        return dropper()
