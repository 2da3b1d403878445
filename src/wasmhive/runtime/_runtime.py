"""`Runtime`: owns the engine, its epoch ticker, the compile cache; loads, instantiates and runs guests."""

from __future__ import annotations

import ctypes
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

from ..errors import ConfigError, GuestExit, InvalidModule, LinkError, WasmhiveError
from ._cache import CompileCache
from ._capi import ffi
from ._engine import EngineSettings, build_engine
from ._expose import HIDDEN_PREFIX, expose_memories
from ._instance import Instance, guest_error, out_of_memory
from ._limits import Limits
from ._loader import Compiled, defined_memories_of, explain_compile_error, read_source, sha256_hex, to_binary
from ._memcount import defined_memories
from ._sandbox import Capture, Sandbox

__all__ = ["RunResult", "Runtime"]

log = logging.getLogger("wasmhive.runtime")
# "No deadline" is still a deadline under epoch interruption: a far-away one.
_NO_DEADLINE = 1 << 62
_NO_FUEL = (1 << 63) - 1
_BIG = 2_000_000  # bytes of Wasm past which a compile takes long enough to announce


@dataclass
class RunResult:
    """What a WASI command run produced."""

    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""
    duration: float = 0.0
    captures: dict[str, Capture] = field(default_factory=dict)


class _Ticker(threading.Thread):
    """Advances the engine's epoch every `interval` seconds: the clock behind every wall-clock deadline."""

    def __init__(self, engine: wasmtime.Engine, interval: float) -> None:
        super().__init__(name="wasmhive-epoch", daemon=True)
        self.engine = engine
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.engine.increment_epoch()


class Runtime:
    """The wasmhive runtime: one engine, its ticker thread and compile cache.

    >>> with Runtime() as rt:
    ...     result = rt.run("hello.wasm", sandbox=Sandbox(args=["hello"], stdout="capture"))

    `cache=False` disables the on-disk compile cache; a path selects its directory (default:
    `$WASMHIVE_CACHE` or the user cache dir). Engine settings are keyword arguments
    (see `EngineSettings`) or a whole `settings=` object.
    """

    def __init__(self, settings: EngineSettings | None = None, *, cache: CompileCache | str | os.PathLike[str]
                 | bool | None = None, tick: float = 0.005, **engine_options: Any) -> None:
        if settings is not None and engine_options:
            raise ConfigError("pass either settings= or engine keyword options, not both")
        try:
            self.settings = settings or EngineSettings(**engine_options)
        except TypeError as e:
            raise ConfigError(f"unknown engine option: {e}") from None
        if not tick > 0:
            raise ConfigError("tick must be positive")
        self.engine, self.pooling = build_engine(self.settings)
        self.fingerprint = self.settings.fingerprint()
        if cache is False:
            self.cache: CompileCache | None = None
        elif isinstance(cache, CompileCache):
            self.cache = cache
        else:
            self.cache = CompileCache(None if cache in (None, True) else Path(cache))  # type: ignore[arg-type]
        self.tick = tick
        self._ticker = _Ticker(self.engine, tick)
        self._ticker.start()
        self._lock = threading.Lock()
        self._loaded: dict[str, Compiled] = {}
        self._core_linker: wasmtime.Linker | None = None
        self._component_linker: wc.Linker | None = None
        self._pre: dict[str, wasmtime.InstancePre] = {}
        self.closed = False

    # -- life cycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the ticker thread. Instances already created keep working but deadlines stop advancing."""
        if not self.closed:
            self.closed = True
            self._ticker.stopping.set()
            self._ticker.join(timeout=1)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- loading ---------------------------------------------------------------------------------
    def load(self, source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> Compiled:
        """Compile (or fetch from the cache) a core module or component from a file or bytes.

        Binary and text (`.wat`, component text) are detected from the content, not the file name.
        """
        if isinstance(source, (bytes, bytearray, memoryview)):
            data, label = bytes(source), name or "<bytes>"
        else:
            data, label = read_source(source), name or str(source)
        kind, binary = to_binary(data, label)
        # What we compile: core modules get host-only exports of hidden memories (see _expose).
        code = expose_memories(binary) if kind == "module" else binary
        key = CompileCache.key(code, self.fingerprint) if self.cache else sha256_hex(code + self.fingerprint.encode())
        with self._lock:
            hit = self._loaded.get(key)
        if hit is not None:
            return hit
        raw, from_cache = None, False
        if self.cache is not None:
            payload = self.cache.get(key)
            if payload is not None:
                try:
                    raw = (wasmtime.Module if kind == "module" else wc.Component).deserialize(self.engine, payload)
                    from_cache = True
                except wasmtime.WasmtimeError as e:
                    log.warning("compile cache entry for %s refused by wasmtime (%s); recompiling",
                                label, str(e).splitlines()[0])
                    self.cache.discard(key)
        if raw is None:
            # A big component takes seconds to compile (an 18 MB componentize-py one ~15 s on a busy
            # machine): say so before and after, or a first `up` looks hung.
            level = logging.WARNING if len(code) >= _BIG else logging.DEBUG
            why = "not in the compile cache" if self.cache is not None else "the compile cache is off"
            log.log(level, "compiling %s (%.1f MB, %s)...", label, len(code) / 1e6, why)
            t0 = time.perf_counter()
            try:
                raw = wasmtime.Module(self.engine, code) if kind == "module" else wc.Component(self.engine, code)
            except wasmtime.WasmtimeError as e:
                raise explain_compile_error(e, binary, label) from None
            log.log(level, "compiled %s in %.1fs", label, time.perf_counter() - t0)
            if self.cache is not None:
                self.cache.put(key, raw.serialize())
        compiled = Compiled(kind, raw, label, sha256_hex(binary), len(binary), from_cache)
        # How many memories it defines: `Limits.memory` (a total) is split across them in new_store.
        compiled.meta["memories"] = defined_memories(code)
        with self._lock:
            self._loaded[key] = compiled
        return compiled

    def as_compiled(self, source: Compiled | str | os.PathLike[str] | bytes) -> Compiled:
        """`source` itself if already compiled, else `load(source)`."""
        return source if isinstance(source, Compiled) else self.load(source)

    # -- stores ----------------------------------------------------------------------------------
    def new_store(self, limits: Limits | None = None, data: Any = None, *, compiled: Compiled | None = None,
                  memories: int | None = None) -> wasmtime.Store:
        """A fresh store with `limits` applied (memory, tables, instances, fuel, deadline).

        Give the `compiled` guest the store is for (or, when several guests share it, the number of
        `memories` they define together): `limits.memory` is then a total over those memories (see
        `Limits.memory`); without either, each memory is capped at `limits.memory`."""
        limits = limits or Limits()
        store = wasmtime.Store(self.engine, data)
        defined = memories if memories is not None else defined_memories_of(compiled)
        per_memory, memories = limits.memory_caps(defined)
        store.set_limits(
            memory_size=per_memory,
            table_elements=-1 if limits.table_elements is None else limits.table_elements,
            instances=-1 if limits.instances is None else limits.instances,
            tables=-1 if limits.tables is None else limits.tables,
            memories=memories,
        )
        if self.settings.fuel:
            store.set_fuel(_NO_FUEL if limits.fuel is None else limits.fuel)
        elif limits.fuel is not None:
            raise ConfigError("a fuel limit needs a Runtime created with fuel=True")
        self.set_deadline(store, limits.timeout)
        return store

    def set_deadline(self, store: wasmtime.Store, seconds: float | None) -> None:
        """(Re)arm the store's wall-clock deadline, counted from now."""
        ticks = _NO_DEADLINE if seconds is None else max(1, math.ceil(seconds / self.tick))
        store.set_epoch_deadline(ticks)

    # -- core modules ----------------------------------------------------------------------------
    def core_linker(self) -> wasmtime.Linker:
        """The shared linker with WASI preview 1 defined (what core modules are linked against)."""
        with self._lock:
            if self._core_linker is None:
                linker = wasmtime.Linker(self.engine)
                linker.define_wasi()
                self._core_linker = linker
            return self._core_linker

    def instantiate(self, source: Compiled | str | os.PathLike[str] | bytes, *, limits: Limits | None = None,
                    sandbox: Sandbox | None = None, linker: wasmtime.Linker | None = None) -> Instance:
        """Instantiate a core module in a fresh store. WASI preview 1 imports see only `sandbox`."""
        compiled = self.as_compiled(source)
        if compiled.kind != "module":
            raise ConfigError(f"{compiled.name} is a component: use Runtime.component() or run()")
        limits = limits or Limits()
        store = self.new_store(limits, compiled=compiled)
        # A module that imports no WASI needs no WASI context (saves ~10 µs per instance).
        captures = self.apply_sandbox(store, sandbox or Sandbox()) if _imports_wasi(compiled) else {}
        try:
            if linker is None:
                raw = self._instance_pre(compiled).instantiate(store)
            else:
                raw = linker.instantiate(store, compiled.module)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            raise self.instantiate_error(e, compiled, limits) from None
        cap, _ = limits.memory_caps(defined_memories_of(compiled))
        return Instance(store, raw, limits, captures, memory_cap=cap)

    def _instance_pre(self, compiled: Compiled) -> wasmtime.InstancePre:
        key = compiled.sha256
        pre = self._pre.get(key)
        if pre is None:
            try:
                pre = self.core_linker().instantiate_pre(compiled.module)
            except wasmtime.WasmtimeError as e:
                raise LinkError(f"{compiled.name}: {_link_message(str(e))}") from None
            self._pre[key] = pre
        return pre

    def instantiate_error(self, e: Exception, compiled: Compiled, limits: Limits) -> WasmhiveError:
        """The `WasmhiveError` for instantiation failure `e`: a link error names the import, running out of
        memory or instances is a `LimitExceeded`, anything else the guest's error."""
        text = str(e)
        low = text.lower()
        if "unknown import" in low or ("import" in low and ("not defined" in low or "type mismatch" in low
                                                            or ("expected" in low and "found" in low))):
            return LinkError(f"{compiled.name}: {_link_message(text)}")
        if "maximum concurrent" in low:
            from ..errors import LimitExceeded
            return LimitExceeded("pooling_instances", self.settings.pooling_instances,
                                 f"the pooling allocator has no free slot ({_one(text)}); drop instances "
                                 f"sooner or raise pooling_instances")
        for what, limit in (("memory count", "memories"), ("table count", "tables")):
            if what in low:
                from ..errors import LimitExceeded
                return LimitExceeded(limit, getattr(limits, limit),
                                     f"the guest defines more {limit} than allowed ({limit} = "
                                     f"{getattr(limits, limit)})")
        if "memory" in low and ("limit" in low or "minimum" in low) and limits.memory is not None:
            return guest_error(e, limits) if "trap" in low else _memory_limit(limits, compiled)
        if "instance" in low and "limit" in low:
            from ..errors import LimitExceeded
            return LimitExceeded("instances", limits.instances)
        return guest_error(e, limits)

    def apply_sandbox(self, store: wasmtime.Store, sandbox: Sandbox) -> dict[str, Capture]:
        """Give `store` the WASI of `sandbox` (dirs, env, args, stdio); returns the captured streams."""
        captures: dict[str, Capture] = {}
        cfg = sandbox.wasi_config(captures)
        if isinstance(sandbox.stdin, (bytes, bytearray)):
            data = bytes(sandbox.stdin)
            buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data) if data else (ctypes.c_uint8 * 0)()
            vec = ffi.wasm_byte_vec_t()
            ffi.wasm_byte_vec_new(ctypes.byref(vec), len(data), buf)
            ffi.wasi_config_set_stdin_bytes(cfg.ptr(), ctypes.byref(vec))
        store.set_wasi(cfg)
        return captures

    # -- components ------------------------------------------------------------------------------
    def component(self, source: Compiled | str | os.PathLike[str] | bytes, **options: Any) -> Any:
        """A component ready to call from Python (`.exports.add(3, 4)`); see `wasmhive.component.Component`
        for `imports=`, `limits=`, `sandbox=` and `fresh=`."""
        # Imported here, not at the top: `wasmhive run` on a core module (and `import wasmhive.runtime`)
        # should not pay for loading the component layer. `Runtime` sits above that layer.
        from ..component import Component

        return Component(self, source, **options)

    def component_linker(self) -> wc.Linker:
        """The shared component linker with wasmtime's WASI 0.2 (what `run` links commands against)."""
        with self._lock:
            if self._component_linker is None:
                linker = wc.Linker(self.engine)
                linker.add_wasip2()
                self._component_linker = linker
            return self._component_linker

    # -- running commands ------------------------------------------------------------------------
    def run(self, source: Compiled | str | os.PathLike[str] | bytes, *, sandbox: Sandbox | None = None,
            limits: Limits | None = None, linker: wasmtime.Linker | None = None) -> RunResult:
        """Run a WASI command (core `_start` or component `wasi:cli/run`) to completion.

        `linker`: for a core module, a linker with WASI preview 1 and more (e.g. `wasi_ephemeral_nn`)
        to link it against instead of the shared one.

        Returns the exit code (0, or the code the guest passed to `exit`); raises `GuestTrap`,
        `LimitExceeded`/`DeadlineExceeded`, `LinkError` for failures.
        """
        compiled = self.as_compiled(source)
        sandbox = sandbox or Sandbox()
        limits = limits or Limits()
        t0 = time.perf_counter()
        if compiled.kind == "module":
            code, captures = self._run_core(compiled, sandbox, limits, linker)
        else:
            code, captures = self._run_component(compiled, sandbox, limits)
        result = RunResult(code, duration=time.perf_counter() - t0, captures=captures)
        result.stdout = captures["stdout"].getvalue() if "stdout" in captures else b""
        result.stderr = captures["stderr"].getvalue() if "stderr" in captures else b""
        return result

    def _run_core(self, compiled: Compiled, sandbox: Sandbox, limits: Limits,
                  linker: wasmtime.Linker | None = None) -> tuple[int, dict[str, Capture]]:
        inst = self.instantiate(compiled, limits=limits, sandbox=sandbox, linker=linker)
        start = inst.export("_start")
        if not isinstance(start, wasmtime.Func):
            names = [n for n in inst.raw.exports(inst.store) if not n.startswith(HIDDEN_PREFIX)]
            raise InvalidModule("not a WASI command: it exports no `_start` function "
                                f"(exports: {', '.join(names) or 'none'})", source=compiled.name)
        try:
            inst.call(start)
        except GuestExit as e:
            return e.code, inst.captures
        return 0, inst.captures

    def _run_component(self, compiled: Compiled, sandbox: Sandbox, limits: Limits) -> tuple[int, dict[str, Capture]]:
        component = compiled.component
        if "run_iface" not in compiled.meta:  # reflecting the component's type costs ~1 ms: once per component
            name = next((n for n in component.type.exports(self.engine) if n.startswith("wasi:cli/run@0.2")), None)
            iface_index = component.get_export_index(name) if name else None
            compiled.meta["run_iface"] = name
            compiled.meta["run_index"] = component.get_export_index("run", iface_index) if iface_index else None
        run_iface: str | None = compiled.meta["run_iface"]  # type: ignore[assignment]
        if run_iface is None:
            raise InvalidModule("not a WASI command component: it exports no wasi:cli/run@0.2.x",
                                source=compiled.name)
        store = self.new_store(limits, compiled=compiled)
        captures = self.apply_sandbox(store, sandbox)
        try:
            instance = self.component_linker().instantiate(store, component)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            raise self.instantiate_error(e, compiled, limits) from None
        run_index = compiled.meta["run_index"]
        func = instance.get_func(store, run_index) if run_index is not None else None  # type: ignore[arg-type]
        if func is None:
            raise InvalidModule(f"{run_iface} has no `run` function", source=compiled.name)
        try:
            result = func(store)
        except GuestExit as e:
            return e.code, captures
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            err = guest_error(e, limits)
            if isinstance(err, GuestExit):
                return err.code, captures
            stderr = captures["stderr"].getvalue() if "stderr" in captures else b""
            raise (out_of_memory(err, limits, stderr) or err) from None
        # result<_, _>: wasmtime-py gives None for ok, and an object for err.
        return (0 if result is None or getattr(result, "tag", "ok") == "ok" else 1), captures


def _one(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else text


def _imports_wasi(compiled: Compiled) -> bool:
    flag = compiled.meta.get("imports_wasi")
    if flag is None:
        flag = compiled.meta["imports_wasi"] = any(i.module.startswith("wasi") for i in compiled.module.imports)
    return bool(flag)


def _link_message(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("Caused by")]
    for ln in lines:
        if "unknown import" in ln or "import" in ln:
            return ln.lstrip("0123456789: ")
    return lines[-1] if lines else "link error"


def _memory_limit(limits: Limits, compiled: Compiled) -> WasmhiveError:
    from ..errors import LimitExceeded

    n = defined_memories_of(compiled)
    split = f", split across its {n} memories" if n is not None and n > 1 else ""
    return LimitExceeded("memory", limits.memory, f"module needs more memory than the limit allows "
                                                  f"(memory = {limits.memory} bytes in total{split})")
