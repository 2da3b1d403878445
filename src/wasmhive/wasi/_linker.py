"""Build the component linker for a `wasi:http/proxy` (or full `wasi:cli`) guest.

wasmtime's own WASI 0.2 supplies random, environment, exit and terminal (native and fast); every
interface that touches a `wasi:io` type is ours, defined under the exact name the component imports
(any 0.2.x patch version), shadowing wasmtime's: io, clocks, cli stdio, http, and deny-all filesystem
and sockets. Functions of a known interface that we do not implement (newer patch versions add some)
are defined as traps naming the function, so such a guest still instantiates.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import wasmtime
import wasmtime.component as wc
from wasmtime.component import _types as t

import wasmhive.wasi._clocks_cli as _clocks_cli
import wasmhive.wasi._io as _io

from ..component._hostcall import HostTrap, define_func
from ._deny import link_denied
from ._http_host import link_types
from ._outgoing import link_outgoing_handler
from ._state import HOST_RESOURCES

__all__ = ["IMPLEMENTED", "build_linker", "wasi_version"]

IMPLEMENTED: dict[str, Callable[[wc.LinkerInstance], None]] = {
    **_io.INTERFACES,
    **_clocks_cli.INTERFACES,
    "wasi:http/types": link_types,
    "wasi:http/outgoing-handler": link_outgoing_handler,
}
DENIED_PACKAGES = ("wasi:filesystem/", "wasi:sockets/")
_VERSION = re.compile(r"^0\.2\.\d+$")
_lock = threading.Lock()


def wasi_version(name: str) -> tuple[str, str] | None:
    """(interface, version) for a WASI 0.2.x import name like `wasi:io/streams@0.2.9`, else None."""
    base, _, version = name.partition("@")
    if not base.startswith("wasi:") or not _VERSION.match(version):
        return None
    return base, version


class _Recording:
    """Wraps `define_func` while one interface is defined, to learn which names it covered."""

    def __init__(self) -> None:
        self.names: set[str] = set()


def _define_missing(inst: wc.LinkerInstance, iface: str, ity: t.ComponentInstanceType, engine: wasmtime.Engine,
                    defined: set[str]) -> None:
    for name, ext in ity.exports(engine).items():
        if name in defined or not isinstance(ext.ty, wc.FuncType):
            continue
        message = f"{iface}#{name} is not implemented by this host"

        def trap(*args: object, _m: str = message) -> None:
            raise HostTrap(_m)
        define_func(inst, name, trap, host_resources=HOST_RESOURCES)


def build_linker(engine: wasmtime.Engine, component: wc.Component,
                 extra: Callable[[wc.LinkerInstance], None] | None = None) -> wc.Linker:
    """A linker satisfying the WASI 0.2 imports of `component`; `extra(root)` may define more (capabilities)."""
    linker = wc.Linker(engine)
    linker.add_wasip2()
    linker.allow_shadowing = True
    imports = component.type.imports(engine)
    seen: list[wc.ResourceType] = []
    with _lock, linker.root() as root:
        for name, ext in imports.items():
            parsed = wasi_version(name)
            ity = ext.ty
            if parsed is None or not isinstance(ity, t.ComponentInstanceType):
                continue
            base, _ = parsed
            if base in IMPLEMENTED:
                with root.add_instance(name) as inst:
                    _io.recording = rec = _Recording()
                    try:
                        IMPLEMENTED[base](inst)
                    finally:
                        _io.recording = None
                    _define_missing(inst, name, ity, engine, rec.names)
                for item in ity.exports(engine).values():
                    if isinstance(item.ty, wc.ResourceType):
                        seen.append(item.ty)
            elif base.startswith(DENIED_PACKAGES):
                with root.add_instance(name) as inst:
                    link_denied(inst, name, ity, engine, seen)
        if extra is not None:
            extra(root)
    return linker
