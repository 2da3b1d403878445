"""Linking a component's imports: Python providers, other components' exports, host resources.

Used by `Component` (its own linker), and usable on any wasmtime component linker, e.g. the HTTP
trigger's (which serves WASI itself):

    links = link_imports(runtime, compiled, linker, imports)   # defines the imports into `linker`
    # per store (request):
    links.prepare(store)          # before linker.instantiate(store, component): same-store providers
    ...
    links.release(store)          # when done with the store: drops them and host resource tables

`imports` maps WIT import names to providers (see `Component`); `dependencies_from_manifest` turns
Spin's `[component.<id>.dependencies]` into such a mapping.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import wasmtime
import wasmtime.component as wc

import wasmhive.component._model as m

from ..errors import LinkError
from ._convert import pyname
from ._func import BoundFunc
from ._host import ForwardFunc, HostFunc, check_same, define_func, lookup_import, resolve_provider
from ._hostcall import HostTrap, define_resource
from ._hostres import HostResource
from ._values import Record, class_name

if TYPE_CHECKING:
    from ._host_runtime import Runtime

__all__ = ["Dependency", "ExportedFuncs", "ImportLinks", "Linkable", "link_imports", "signature_of"]


class LinkedInstance(Protocol):
    """A same-store dependency's instance (`_component.ComponentInstance`)."""

    def bound(self, iface: str | None, fname: str) -> BoundFunc | None: ...


class Linkable(Protocol):
    """A component that serves imports from a private instance in each importer's store
    (`_component.Component`)."""

    name: str
    signature: m.Signature

    def store_memories(self) -> int | None: ...

    def instantiate(self, *, store: wasmtime.Store | None = None) -> LinkedInstance: ...


class ExportedFuncs:
    """Another component's exported functions as an import provider: `bind(name)` is the bound export
    (what `_component.Exports.as_import_provider` gives)."""

    def __init__(self, bind: Callable[[str], Any]) -> None:
        self.bind = bind

# Same-store dependencies: store context address → {id(component): instance in that store}.
_STORE_DEPS: dict[int, dict[int, LinkedInstance]] = {}



def signature_of(compiled: Any, engine: wasmtime.Engine) -> m.Signature:
    """The component's signature, read once per compiled component."""
    sig = compiled.meta.get("wasmhive.component.signature")
    if sig is None:
        sig = compiled.meta["wasmhive.component.signature"] = m.read_signature(compiled.component, engine)
    return sig  # type: ignore[no-any-return]


def _declared_resources(iface: m.InterfaceSig) -> list[str]:
    """Resources this interface declares (has a constructor, method or static function for): the ones
    a host defines here. Resources brought in with `use` must not be defined again."""
    return [r for r in iface.resources if any(f.resource == r for f in iface.funcs.values())]


class Dependency:
    """`imports=` value: serve an import from `component`'s export `export` (default: the same name),
    in a private instance created in the same store as each instance of the importing component."""

    def __init__(self, component: Linkable, export: str | None = None) -> None:
        self.component = component
        self.export = export


class ImportLinks:
    """One component's imports, defined into a linker; per-store state for same-store providers."""

    def __init__(self, runtime: Runtime, name: str, signature: m.Signature, imports: Mapping[str, Any], *,
                 classes: dict[m.WitType, type[Record]] | None = None, stub_imports: bool = False) -> None:
        self.runtime = runtime
        self.name = name
        self.signature = signature
        self.imports = dict(imports)
        self.classes = {} if classes is None else classes
        self.stub_imports = stub_imports
        self._deps: list[Linkable] = []
        self._host_resources: dict[str, HostResource] = {}

    def prepare(self, store: wasmtime.Store) -> None:
        """Create the same-store providers (`Dependency`) in `store`; call before instantiating in it."""
        addr = ctypes.addressof(store._context().contents)
        # State left under this address belongs to a store that is gone (its address was reused):
        # a store dropped without release() (e.g. collected by the GC) is cleaned up here.
        self.release(addr)
        if self._deps:
            _STORE_DEPS[addr] = {id(dep): dep.instantiate(store=store) for dep in self._deps}

    def release(self, store: wasmtime.Store | int) -> None:
        """Forget what `prepare` and host resources keep for `store` (a store, or its context address)."""
        addr = store if isinstance(store, int) else ctypes.addressof(store._context().contents)
        _STORE_DEPS.pop(addr, None)
        for hr in self._host_resources.values():
            hr.drop_store(addr)

    def define(self, linker: wc.Linker) -> None:
        """Define every import this component needs (except WASI, left to the linker) into `linker`."""
        imports = self.imports
        missing: list[str] = []
        used: set[str] = set()
        root = linker.root()
        try:
            for name, item in self.signature.imports.items():
                provider = lookup_import(imports, name)
                if provider is None:
                    if not name.startswith("wasi:"):
                        missing.append(name)
                        if self.stub_imports:
                            self._stub(root, name, item)
                    continue
                used.update(k for k in imports if imports[k] is provider)
                if isinstance(item, m.FuncSig):
                    define_func(root, name, self._entry(name, item, {name: provider}, name))
                    continue
                li = root.add_instance(name)
                try:
                    for rname in _declared_resources(item):
                        hr = self._host_resources[rname] = HostResource(rname)
                        define_resource(li, rname, hr.type_id, hr.dtor, with_store=True)
                    for fname, fsig in item.funcs.items():
                        define_func(li, fname, self._entry(f"{name}.{fname}", fsig, provider, name))
                finally:
                    li.close()
        finally:
            root.close()
        unknown = [k for k in imports if k not in used]
        if unknown:
            raise LinkError(f"{self.name}: imports given for {', '.join(sorted(unknown))}, which the component "
                            f"does not import (it imports: {', '.join(self.signature.imports) or 'nothing'})")
        if missing and not self.stub_imports:
            raise LinkError(f"{self.name}: no provider for import{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)}: pass imports={{name: provider}} (or stub_imports=True to make them trap)")

    def _stub(self, root: Any, name: str, item: m.InterfaceSig | m.FuncSig) -> None:
        # (wasmtime's define_unknown_imports_as_traps would also stub WASI 0.2.x imports that the
        # linker serves by semver matching, breaking them: stub only what nobody provides.)
        def trap(qual: str) -> Any:
            return _Stub(qual)
        if isinstance(item, m.FuncSig):
            define_func(root, name, trap(name))
            return
        li = root.add_instance(name)
        try:
            for rname in _declared_resources(item):
                define_resource(li, rname, HostResource(rname).type_id, lambda _r: None)
            for fname in item.funcs:
                define_func(li, fname, trap(f"{name}.{fname}"))
        finally:
            li.close()

    def _entry(self, qualname: str, fsig: m.FuncSig, provider: Any, iface: str) -> Any:
        # A component, its instance or its exports say themselves what they provide.
        as_provider = getattr(provider, "as_import_provider", None)
        if as_provider is not None:
            provider = as_provider(iface)
        if isinstance(provider, Dependency):
            return self._same_store_entry(qualname, fsig, provider.component, provider.export or iface)
        if isinstance(provider, ExportedFuncs):
            target = provider.bind(fsig.name)
            if not isinstance(target, BoundFunc):
                raise LinkError(f"import {qualname}: the providing component exports no function {fsig.name!r}")
            check_same(qualname, fsig, target.plan.sig)
            return ForwardFunc(qualname, target)
        fn = resolve_provider(provider, fsig)
        if isinstance(fn, BoundFunc):
            check_same(qualname, fsig, fn.plan.sig)
            return ForwardFunc(qualname, fn)
        if not callable(fn):
            what = (f"class {class_name(fsig.resource or '')!r} with {fsig.kind} {pyname(fsig.short)!r}"
                    if fsig.kind != "freestanding" else f"callable {pyname(fsig.name)!r}")
            raise LinkError(f"import {qualname}: the provider {type(provider).__name__} has no {what} "
                            f"({fsig.wit()})")
        return HostFunc(qualname, fsig, fn, self.classes, self._host_resources)

    def _same_store_entry(self, qualname: str, fsig: m.FuncSig, dep: Linkable, iface: str) -> Any:
        if dep not in self._deps:
            self._deps.append(dep)
        exported = dep.signature.exports.get(iface)
        dep_iface = iface if isinstance(exported, m.InterfaceSig) else None
        have = (exported.funcs.get(fsig.name) if isinstance(exported, m.InterfaceSig)
                else dep.signature.exports.get(fsig.name))
        if not isinstance(have, m.FuncSig):
            raise LinkError(f"import {qualname}: {dep.name} exports no function {fsig.name!r}")
        check_same(qualname, fsig, have)
        return _SameStore(qualname, id(dep), dep_iface, fsig.name)


class _Stub:
    """An import nobody provides (`stub_imports=True`): calling it traps."""

    def __init__(self, qualname: str) -> None:
        self.name = qualname

    def call(self, context: int, ty: int, args: int, nargs: int, results: int, nres: int) -> None:
        raise HostTrap(f"import {self.name} is not provided (stubbed)")


class _SameStore:
    """An import served by a dependency instantiated in the caller's own store (found per call)."""

    def __init__(self, qualname: str, key: int, iface: str | None, fname: str) -> None:
        self.name, self.key, self.iface, self.fname = qualname, key, iface, fname

    def call(self, context: int, ty: int, args: int, nargs: int, results: int, nres: int) -> None:
        inst = _STORE_DEPS[context][self.key]
        ForwardFunc(self.name, inst.bound(self.iface, self.fname)).call(context, ty, args, nargs, results, nres)



def link_imports(runtime: Runtime, source: Any, linker: wc.Linker, imports: Mapping[str, Any], *,
                 stub_imports: bool = False) -> ImportLinks:
    """Define `source`'s imports from `imports` into a wasmtime component `linker` (see the module doc).

    WASI imports are left to the linker. Raises `LinkError` for a missing, unknown or mismatched import.
    """
    compiled = runtime.as_compiled(source)
    links = ImportLinks(runtime, compiled.name, signature_of(compiled, runtime.engine), imports,
                        stub_imports=stub_imports)
    links.define(linker)
    return links
