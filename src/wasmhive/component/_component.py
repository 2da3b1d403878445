"""`Component` (compiled + linked, ready to instantiate) and `ComponentInstance` (a live store + instance)."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import wasmtime
import wasmtime.component as wc

import wasmhive.component._model as m

from ..errors import ConfigError, WasmhiveError
from ..runtime._instance import guest_error, out_of_memory
from ..runtime._limits import Limits
from ..runtime._loader import defined_memories_of
from ..runtime._sandbox import Sandbox
from ._convert import pyname
from ._func import BoundFunc, Plan, error_from_ptr, take_pending
from ._linking import Dependency, ExportedFuncs, ImportLinks, signature_of
from ._resources import ResourceClass, ResourceHandle
from ._values import Record, class_name

if TYPE_CHECKING:
    from ._host_runtime import Runtime

__all__ = ["Component", "ComponentInstance", "Dependency", "Exports", "signature_of"]

Binder = Callable[[str | None, str], Any]

class Component:
    """A component ready to call from Python: `runtime.component("calc.wasm").exports.add(3, 4)`.

    - `imports`: providers for the component's imports, keyed by WIT name (`"docs:log/sink"`;
      the `@version` may be left out). A provider is a Python object/dict/module with a function per
      WIT function (by WIT or Python name), another component's `ComponentInstance` or exports
      namespace (calls are forwarded to it, host-mediated, across stores), or a `Component` (a
      private instance of it is created in the same store as each instance of this one).
      WASI imports are served by wasmtime's WASI, confined to `sandbox`.
    - `limits`, `sandbox`: per instance; the wall-clock deadline and fuel are re-armed per call.
    - `fresh=True`: every call through `exports` runs in a new instance (and store).
    - `stub_imports=True`: imports nobody provides trap when called instead of failing to link.

    `exports` uses one long-lived instance (stateful) unless `fresh`; `instantiate()` makes more.
    """

    def __init__(self, runtime: Runtime, source: Any, *, imports: Mapping[str, Any] | None = None,
                 limits: Limits | None = None, sandbox: Sandbox | None = None, fresh: bool = False,
                 stub_imports: bool = False) -> None:
        compiled = runtime.as_compiled(source)
        if compiled.kind != "component":
            raise ConfigError(f"{compiled.name} is a core module, not a component: use Runtime.instantiate()")
        self.runtime = runtime
        self.compiled = compiled
        self.name = compiled.name
        self.limits = limits or Limits()
        self.sandbox = sandbox or Sandbox()
        self.fresh = fresh
        self.signature = signature_of(compiled, runtime.engine)
        self.classes: dict[m.WitType, type[Record]] = {}
        self._plans: dict[tuple[str | None, str], Plan] = {}
        self._lock = threading.Lock()
        self._default: ComponentInstance | None = None
        self.stub_imports = stub_imports
        self.links = ImportLinks(runtime, self.name, self.signature, imports or {}, classes=self.classes,
                                 stub_imports=stub_imports)
        self.linker = wc.Linker(runtime.engine)
        self.linker.add_wasip2()
        self.linker.allow_shadowing = True
        self.links.define(self.linker)
        self._fresh_exports = Exports(self.signature, self._fresh_binder, self.classes)

    # -- plans and instances -----------------------------------------------------------------------
    def plan(self, iface: str | None, fname: str) -> Plan | None:
        """The cached converters for an exported function (None if there is no such function)."""
        key = (iface, fname)
        plan = self._plans.get(key)
        if plan is None:
            sig = self.signature.exports.get(iface) if iface else self.signature.exports.get(fname)
            fsig = sig.funcs.get(fname) if isinstance(sig, m.InterfaceSig) else sig
            if not isinstance(fsig, m.FuncSig):
                return None
            qual = f"{iface}.{fname}" if iface else fname
            plan = self._plans[key] = Plan(qual, fsig, self.classes)
        return plan

    def store_memories(self) -> int | None:
        """Memories an instance's store holds: this component's and its same-store dependencies'
        (`Limits.memory` is split across all of them). None when a count is unknown."""
        total = defined_memories_of(self.compiled)
        for dep in self.links._deps:
            more = dep.store_memories()
            if total is None or more is None:
                return None
            total += more
        return total

    def as_import_provider(self, iface: str) -> Dependency:
        """As a provider in another component's `imports=`: a private instance in each of its stores."""
        return Dependency(self)

    def instantiate(self, *, store: wasmtime.Store | None = None) -> ComponentInstance:
        """A new instance in a new store (with this component's limits and sandbox)."""
        rt = self.runtime
        if store is None:
            store = rt.new_store(self.limits, memories=self.store_memories())
            captures = rt.apply_sandbox(store, self.sandbox)
        else:
            captures = {}
        self.links.prepare(store)
        try:
            raw = self.linker.instantiate(store, self.compiled.component)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            self.links.release(store)
            raise rt.instantiate_error(e, self.compiled, self.limits) from None
        return ComponentInstance(self, store, raw, captures)

    @property
    def exports(self) -> Exports:
        """The exports, called in the default (long-lived) instance, or a fresh one per call."""
        if self.fresh:
            return self._fresh_exports
        default = self._default
        if default is not None and not default.trapped and default._store is not None:
            return default.exports  # the common case, without taking the lock
        return self.instance.exports

    @property
    def instance(self) -> ComponentInstance:
        """The default instance, created on first use."""
        with self._lock:
            if self._default is None or self._default.trapped:
                # A trap leaves a component instance unusable: the default one is replaced.
                self._default = self.instantiate()
            return self._default

    def _fresh_binder(self, iface: str | None, fname: str) -> Any:
        if self.plan(iface, fname) is None:
            return None

        def call(*args: Any, **kwargs: Any) -> Any:
            fn = self.instantiate().bound(iface, fname)
            assert fn is not None
            return fn(*args, **kwargs)
        call.__name__ = pyname(fname)
        return call

    def locate(self, func: str, interface: str | None = None) -> tuple[str | None, m.FuncSig]:
        """Find an exported function by WIT or Python name: top level, in `interface` (full name, without
        version, or its last path segment), or, if unambiguous, in any exported interface."""
        exports = self.signature.exports
        want = {func, func.replace("_", "-")}
        if interface is not None:
            names = [n for n, item in exports.items() if isinstance(item, m.InterfaceSig) and interface in (
                n, n.split("@", 1)[0], n.split("@", 1)[0].rsplit("/", 1)[-1], m.wit_name(n))]
            if not names:
                raise ConfigError(f"{self.name} exports no interface {interface!r} (interfaces: "
                                  f"{', '.join(n for n, i in exports.items() if isinstance(i, m.InterfaceSig))})")
            item = exports[names[0]]
            assert isinstance(item, m.InterfaceSig)
            candidates: list[tuple[str | None, m.FuncSig]] = [(names[0], f) for f in item.funcs.values()
                                                              if f.name in want]
        else:
            candidates = [(None, f) for n, f in exports.items() if isinstance(f, m.FuncSig) and n in want]
            if not candidates:
                candidates = [(n, f) for n, item in exports.items() if isinstance(item, m.InterfaceSig)
                              for f in item.funcs.values() if f.name in want]
        if not candidates:
            raise ConfigError(f"{self.name} exports no function {func!r}" +
                              (f" in {interface}" if interface else "") + f" (functions: {self._func_list()})")
        if len(candidates) > 1:
            raise ConfigError(f"{func!r} is exported by several interfaces ({', '.join(str(i) for i, _ in candidates)})"
                              ": pick one with --instance")
        return candidates[0]

    def _func_list(self) -> str:
        out = []
        for n, item in self.signature.exports.items():
            if isinstance(item, m.FuncSig):
                out.append(n)
            else:
                out.extend(f"{n}.{f}" for f in item.funcs)
        return ", ".join(out) or "none"

    def record(self, name: str, iface: str | None = None) -> type[Record]:
        """The Python class used for WIT record `name` (e.g. to construct arguments)."""
        for iname, item in self.signature.exports.items():
            if isinstance(item, m.InterfaceSig) and (iface is None or iface == iname):
                ty = item.types.get(name)
                if isinstance(ty, m.Record):
                    from ._lift import lifter

                    lifter(ty, self.classes)
                    return self.classes[ty]
        raise KeyError(f"no exported record type named {name!r}")

    def close(self) -> None:
        """Drop the default instance (and its store)."""
        with self._lock:
            if self._default is not None:
                self._default.close()
                self._default = None

    def __enter__(self) -> Component:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Component {self.name}>"


class ComponentInstance:
    """A live instance of a component in its own store. Not thread-safe: one call at a time."""

    def __init__(self, component: Component, store: wasmtime.Store, raw: wc.Instance,
                 captures: dict[str, Any]) -> None:
        self.component = component
        self._store: wasmtime.Store | None = store
        self.raw = raw
        self.captures = captures
        self._cptr = store._context()
        self._addr = ctypes.addressof(self._cptr.contents)
        limits = component.limits
        self._timeout = limits.timeout
        self._fuel = limits.fuel if component.runtime.settings.fuel else None
        self._bound: dict[tuple[str | None, str], BoundFunc] = {}
        self.trapped = False
        self.exports = Exports(component.signature, self.bound, component.classes)

    @property
    def store(self) -> wasmtime.Store:
        if self._store is None:
            raise WasmhiveError("this component instance was closed")
        return self._store

    def bound(self, iface: str | None, fname: str) -> BoundFunc | None:
        """The callable for exported function `fname` (in interface `iface`, or top level)."""
        key = (iface, fname)
        f = self._bound.get(key)
        if f is not None:
            return f
        plan = self.component.plan(iface, fname)
        if plan is None:
            return None
        store = self.store
        if iface:
            idx = self.raw.get_export_index(store, iface)
            idx = None if idx is None else self.raw.get_export_index(store, fname, idx)
        else:
            idx = self.raw.get_export_index(store, fname)
        func = None if idx is None else self.raw.get_func(store, idx)
        if func is None:
            return None
        f = self._bound[key] = BoundFunc(plan, self, func)
        return f

    def _before_call(self) -> None:
        store = self._store
        if store is None:
            raise WasmhiveError("this component instance was closed")
        if self.trapped:
            raise WasmhiveError("this component instance trapped earlier and cannot be entered again: "
                                "create a new one (component.instantiate(), or fresh=True)")
        if self._timeout is not None:
            self.component.runtime.set_deadline(store, self._timeout)
        if self._fuel is not None:
            store.set_fuel(self._fuel)

    def _call_error(self, err: int, qualname: str) -> Exception:
        self.trapped = True
        return self._translate(error_from_ptr(err))

    def _translate(self, e: BaseException) -> Exception:
        host = take_pending()
        out = guest_error(e, self.component.limits)
        cap = self.captures.get("stderr")  # a component's abort after a refused allocation says so there
        out = out_of_memory(out, self.component.limits, cap.getvalue() if cap is not None else b"") or out
        if host is not None and out is not host:
            out.__cause__ = host
            out.host_exception = host  # type: ignore[union-attr]
        return out

    # -- resources ---------------------------------------------------------------------------------
    def as_import_provider(self, iface: str) -> Any:
        """As a provider in another component's `imports=`: this instance's export `iface` (or all)."""
        exports = self.exports.get(iface) or self.exports
        return exports.as_import_provider(iface) if isinstance(exports, Exports) else exports

    def wrap_resource(self, name: str, raw: Any, owned: bool) -> ResourceHandle:
        return ResourceHandle(raw, self, name, owned)

    def _resource_method(self, resource: str, method: str) -> BoundFunc | None:
        full = f"[method]{resource}.{method.replace('_', '-')}"
        for iname, item in self.component.signature.exports.items():
            if isinstance(item, m.InterfaceSig) and full in item.funcs:
                return self.bound(iname, full)
        return self.bound(None, full)

    # -- life cycle --------------------------------------------------------------------------------
    def stdout(self) -> bytes:
        cap = self.captures.get("stdout")
        return bytes(cap.getvalue()) if cap else b""

    def stderr(self) -> bytes:
        cap = self.captures.get("stderr")
        return bytes(cap.getvalue()) if cap else b""

    def close(self) -> None:
        """Drop the store: every resource handle of this instance becomes unusable."""
        if self._store is not None:
            self.component.links.release(self._addr)
        self._bound.clear()
        self._store = None

    def __enter__(self) -> ComponentInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



class Exports:
    """Exported functions as attributes: `exports.add`, `exports.docs_math_calculator.add`,
    `exports["docs:math/calculator"].add`, resources as classes (`exports.echo.Counter(1)`)."""

    def __init__(self, sig: m.Signature, binder: Binder, classes: dict[m.WitType, type[Record]],
                 iface: str | None = None) -> None:
        self._sig = sig
        self._binder = binder
        self._classes = classes
        self._iface = iface
        self._subs: dict[str, Exports] = {}
        if iface is None:
            funcs = {n: f for n, f in sig.exports.items() if isinstance(f, m.FuncSig)}
            self._ifaces = {n for n, f in sig.exports.items() if isinstance(f, m.InterfaceSig)}
            resources: list[str] = []
        else:
            item = sig.exports[iface]
            assert isinstance(item, m.InterfaceSig)
            funcs, self._ifaces, resources = item.funcs, set(), item.resources
        self._funcs = {pyname(n): n for n, f in funcs.items() if f.kind == "freestanding"}
        self._resources = {class_name(r): r for r in resources}
        self._alias: dict[str, str] = {}
        shorts: dict[str, list[str]] = {}
        for n in self._ifaces:
            self._alias[m.wit_name(n)] = n
            shorts.setdefault(pyname(n.split("@", 1)[0].rsplit("/", 1)[-1].rsplit(":", 1)[-1]), []).append(n)
        for short, names in shorts.items():
            if len(names) == 1 and short not in self._funcs:
                self._alias.setdefault(short, names[0])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._funcs:
            value = self._binder(self._iface, self._funcs[name])
        elif name in self._alias:
            value = self._sub(self._alias[name])
        elif name in self._resources:
            value = ResourceClass(self._binder, self._iface, self._resources[name])
        else:
            raise AttributeError(f"no export named {name!r} (exports: {', '.join(self)})")
        if value is not None:
            self.__dict__[name] = value  # next time a plain attribute: no __getattr__ at all
        return value


    def _sub(self, iface: str) -> Exports:
        # Namespaces are cached: `calc.exports.ops.greet(...)` in a loop builds nothing per call.
        sub = self._subs.get(iface)
        if sub is None:
            sub = self._subs[iface] = Exports(self._sig, self._binder, self._classes, iface)
        return sub

    def __getitem__(self, name: str) -> Any:
        if name in self._ifaces:
            return self._sub(name)
        for n in self._ifaces:
            if n.split("@", 1)[0] == name:
                return self._sub(n)
        if pyname(name) in self._funcs:
            return self._binder(self._iface, self._funcs[pyname(name)])
        if name in self._resources.values():
            return ResourceClass(self._binder, self._iface, name)
        raise KeyError(name)

    def as_import_provider(self, iface: str) -> ExportedFuncs:
        """As a provider in another component's `imports=`: these exported functions, by name."""
        return ExportedFuncs(lambda fname: self._binder(self._iface, fname))

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        yield from self._funcs.values()
        yield from sorted(self._ifaces)
        yield from self._resources.values()

    def __dir__(self) -> list[str]:
        return sorted(set(self._funcs) | set(self._alias) | set(self._resources))

    def __repr__(self) -> str:
        return f"<exports{' of ' + self._iface if self._iface else ''}: {', '.join(self)}>"
