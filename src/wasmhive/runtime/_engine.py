"""Engine settings: one immutable description, turned into a wasmtime `Config` and a cache fingerprint."""

from __future__ import annotations

import ctypes
import logging
import threading
import weakref
from dataclasses import asdict, dataclass

import wasmtime

from ..errors import ConfigError
from ._capi import ffi

__all__ = ["EngineSettings", "build_engine"]

log = logging.getLogger("wasmhive.runtime")
_MAX_WASM_STACK = 2 * 1024 * 1024  # wasmtime's default async_stack_size, which max_wasm_stack may not exceed


@dataclass(frozen=True)
class EngineSettings:
    """Everything that changes compiled code or what guests may do, and so keys the compile cache.

    Defaults suit untrusted guests: SIMD on; threads, GC, exceptions off; epoch interruption always on.
    `deterministic=True` is the contract VM's profile: NaN canonicalization on, SIMD and relaxed SIMD off.
    """

    fuel: bool = False
    max_wasm_stack: int = 1024 * 1024
    nan_canonicalization: bool = False
    simd: bool = True
    relaxed_simd: bool = True
    memory64: bool = True
    multi_memory: bool = True
    pooling: bool = False
    pooling_instances: int = 1000
    pooling_max_memory: int = 128 * 1024 * 1024
    # Bytes of each pooled linear memory reset in place (memset) when its slot is freed instead of being
    # unmapped. A fresh instance then finds its pages already mapped and private: no copy-on-write faults,
    # whose TLB shootdowns cost ~3 ms of kernel time per request when several guest threads share a
    # process (measured on `wasmhive up`, componentize-py hello: 5.8 -> 3.1 ms CPU per request).
    pooling_keep_resident: int = 16 * 1024 * 1024
    opt_level: str = "speed"
    # wasmtime's concurrency support (the component-model async ABI). On, as in wasmtime, every component
    # validates, including those whose toolchain emits async builtins (jco's QuickJS backend emits
    # `task.cancel`). Off for the HTTP trigger's engines: in wasmtime 50 with it on, a guest passing a list
    # of two or more borrows to a host function traps inside wasmtime ("BUG: deferred host scope has no
    # call context") -- `wasi:io/poll.poll` whenever a guest has two requests in flight.
    concurrency: bool = True

    @classmethod
    def deterministic(cls, **overrides: object) -> EngineSettings:
        """The profile for reproducible execution (the contract VM)."""
        base: dict[str, object] = dict(nan_canonicalization=True, simd=False, relaxed_simd=False, fuel=True)
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    def codegen(self) -> dict[str, object]:
        """The settings that change the compiled artifact: exactly what keys the compile cache.

        Left out on purpose, because the artifact is byte-for-byte the same with or without them
        (checked by tests/test_cache_key.py): the pooling allocator and its sizes (instance allocation
        happens at instantiation) and `max_wasm_stack` (the limit is read at run time from the store).
        `opt_level` is in although wasmtime would load code of another level without complaint.
        """
        return {
            "fuel": self.fuel,
            "nan_canonicalization": self.nan_canonicalization,
            "simd": self.simd,
            "relaxed_simd": self.relaxed_simd and self.simd,  # what `config()` applies
            "memory64": self.memory64,
            "multi_memory": self.multi_memory,
            "opt_level": self.opt_level,
            "concurrency": self.concurrency,
        }

    def fingerprint(self) -> str:
        """A stable string naming the code-generation settings and the wasmtime version (for cache keys).

        Engines that differ only in how instances are allocated (`wasmhive up`'s pooled engine, the
        Python API's default) share compiled code.
        """
        items = ",".join(f"{k}={v}" for k, v in sorted(self.codegen().items()))
        return f"wasmtime-py {wasmtime_version()};{items}"

    def config(self, *, pooling: bool | None = None) -> wasmtime.Config:
        """A fresh wasmtime `Config` for these settings."""
        if not 64 * 1024 <= self.max_wasm_stack <= _MAX_WASM_STACK:
            # Past wasmtime's async stack size (2 MiB) the C API aborts the process instead of failing.
            raise ConfigError(f"max_wasm_stack must be between 64 KiB and 2 MiB, got {self.max_wasm_stack}")
        if self.opt_level not in ("none", "speed", "speed_and_size"):
            raise ConfigError(f"opt_level must be none, speed or speed_and_size, got {self.opt_level!r}")
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.consume_fuel = self.fuel
        cfg.max_wasm_stack = self.max_wasm_stack
        cfg.cranelift_nan_canonicalization = self.nan_canonicalization
        cfg.wasm_simd = self.simd
        cfg.wasm_relaxed_simd = self.relaxed_simd and self.simd
        cfg.wasm_relaxed_simd_deterministic = self.nan_canonicalization
        cfg.wasm_memory64 = self.memory64
        cfg.wasm_multi_memory = self.multi_memory
        cfg.wasm_bulk_memory = True
        cfg.wasm_reference_types = True
        cfg.wasm_component_model = True
        if not self.concurrency:  # see the field: the HTTP trigger's engines
            ffi.wasmtime_config_concurrency_support_set(cfg.ptr(), False)
        # Untrusted guests: no shared memory or threads, no GC heap, no exception handling.
        cfg.wasm_threads = False
        cfg.shared_memory = False
        cfg.wasm_gc = False
        cfg.wasm_function_references = False
        cfg.wasm_exceptions = False
        cfg.cranelift_opt_level = self.opt_level
        if pooling if pooling is not None else self.pooling:
            _enable_pooling(cfg, self)
        return cfg


def _enable_pooling(cfg: wasmtime.Config, s: EngineSettings) -> None:
    # The Python wrapper does not expose the pooling allocator; the C API does.
    pool = ffi.wasmtime_pooling_allocation_config_new()
    try:
        n = s.pooling_instances
        ffi.wasmtime_pooling_allocation_config_total_component_instances_set(pool, n)
        ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pool, n * 4)
        ffi.wasmtime_pooling_allocation_config_total_memories_set(pool, n * 2)
        ffi.wasmtime_pooling_allocation_config_total_tables_set(pool, n * 4)
        ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pool, ctypes.c_size_t(s.pooling_max_memory))
        ffi.wasmtime_pooling_allocation_config_max_memories_per_component_set(pool, 8)
        ffi.wasmtime_pooling_allocation_config_max_tables_per_component_set(pool, 16)
        ffi.wasmtime_pooling_allocation_config_max_core_instances_per_component_set(pool, 64)
        ffi.wasmtime_pooling_allocation_config_max_unused_warm_slots_set(pool, min(n, 100))
        keep = max(0, s.pooling_keep_resident)
        ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pool, ctypes.c_size_t(keep))
        ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, ctypes.c_size_t(min(keep, 1 << 20)))
        ffi.wasmtime_pooling_allocation_strategy_set(cfg.ptr(), pool)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)


def build_engine(settings: EngineSettings) -> tuple[wasmtime.Engine, bool]:
    """Create the engine; returns (engine, pooling_active).

    If the pooling allocator cannot reserve its address space (small `ulimit -v`, 32-bit hosts),
    fall back to on-demand allocation and say so in the log.
    """
    if settings.pooling:
        problem = _pooling_problem(settings)
        with _pooled_lock:
            if problem is None and len(_pooled) >= MAX_POOLED_ENGINES:
                problem = (f"{MAX_POOLED_ENGINES} pooled engines are alive in this process; share one "
                           "Runtime between apps")
            if problem is None:
                try:
                    engine = wasmtime.Engine(settings.config())
                except wasmtime.WasmtimeError as e:
                    problem = str(e).splitlines()[0]
                else:
                    token = object()
                    _pooled.add(token)
                    weakref.finalize(engine, _pooled.discard, token)
                    return engine, True
        log.warning("pooling allocator unavailable (%s); using on-demand allocation", problem)
    return wasmtime.Engine(settings.config(pooling=False)), False


# Each pooled engine reserves its whole pool of address space up front (terabytes with 4 GiB slots), and
# wasmtime's C API aborts the process when a reservation fails: about 15 fit in x86-64's 128 TiB. Past
# this many live ones, new engines allocate on demand instead (a warning says so).
MAX_POOLED_ENGINES = 8
_pooled: set[object] = set()
_pooled_lock = threading.Lock()


_POOL_PROBES: dict[EngineSettings, str | None] = {}
_PROBE = """import sys, json
from wasmhive.runtime._engine import EngineSettings
import wasmtime
wasmtime.Engine(EngineSettings(**json.loads(sys.argv[1])).config())
"""


def _pooling_problem(settings: EngineSettings) -> str | None:
    """Why the pool cannot be created here, or None if it can.

    wasmtime's C API aborts the whole process (no error to catch) when the pool cannot reserve its
    address space, so the first pooling engine per settings is created in a child process first.
    """
    if settings in _POOL_PROBES:
        return _POOL_PROBES[settings]
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # the directory holding the wasmhive package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(asdict(settings))], env=env,
                              capture_output=True, timeout=60, check=False)
        problem = None if proc.returncode == 0 else (
            _last_line(proc.stderr.decode("utf-8", "replace")) or f"probe exited with {proc.returncode}")
    except (OSError, subprocess.TimeoutExpired) as e:
        problem = f"cannot probe the pooling allocator: {e}"
    _POOL_PROBES[settings] = problem
    return problem


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("note:")]
    return next((ln for ln in lines if "reserve" in ln or "mmap" in ln or "memory" in ln),
                lines[-1] if lines else "")


def wasmtime_version() -> str:
    from importlib.metadata import version

    try:
        return version("wasmtime")
    except Exception:  # pragma: no cover - only when running from a source checkout of wasmtime
        return "unknown"
