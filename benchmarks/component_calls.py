"""Per-call overhead of typed component calls: wasmhive vs the raw `wasmtime.component.Func` it wraps.

    python benchmarks/component_calls.py [--quick] [--json out.json]

Cases, each measured in the same run for both paths on the same component instance:
  add        `calc.exports.add(3, 4)` (u32, u32) -> u32          C provider, examples/components
  greet      string in, string out                                 C provider
  stats      list<s32> of 100 in, record out                       C provider
  bytes      list<u8> echo (16 KiB)                                hand-written WAT component
  host call  guest → host import (u32) -> u32, per call            hand-written WAT component
  host bytes guest → host import (list<u8> x 4 KiB) -> u32         hand-written WAT component
Raw = `Func.__call__(store, *args)` from wasmtime-py 50 (and `LinkerInstance.add_func` for the host
import). Goal: wasmhive adds < 25% to the raw call (ratio ≤ 1.25); here it is faster, because the
converters are built once per function instead of re-reading the function type on every call.
The host-call rows have a third column: `component/_hostcall.py`'s `define_func`
as the WASI layer defines every `wasi:*` function (`wasi/_io.py`, with the WASI host resource ids), beside the
typed-call path (`Runtime.component(imports=...)`, `component/_host.py`) and the stock `add_func`;
the 4 KiB list is what a guest's `blocking-write-and-flush` hands over.
A full run records its table in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys

# Run as a script, this directory is sys.path[0]: keep it off the import path (a benchmark module must never shadow a stdlib name).
# (which `wasmhive.wasi` imports).
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]) and __name__ == "__main__":
    sys.path.pop(0)

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "examples" / "components"))

# list<u8> echo with the canonical ABI by hand: arguments land in memory through cabi_realloc, the
# result is a (ptr, len) pair in memory, post-return resets the bump allocator.
BYTES_WAT = """
(component
  (core module $m
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
      (local $p i32)
      global.get $heap local.get $align i32.add i32.const 1 i32.sub
      i32.const 0 local.get $align i32.sub i32.and local.set $p
      local.get $p local.get $new_size i32.add global.set $heap
      (block $ok
        global.get $heap memory.size i32.const 16 i32.shl i32.le_u br_if $ok
        global.get $heap memory.size i32.const 16 i32.shl i32.sub i32.const 65535 i32.add i32.const 16 i32.shr_u
        memory.grow i32.const -1 i32.ne br_if $ok
        unreachable)
      local.get $p)
    (func (export "echo") (param $ptr i32) (param $len i32) (result i32)
      i32.const 8 local.get $ptr i32.store
      i32.const 12 local.get $len i32.store
      i32.const 8)
    (func (export "cabi_post_echo") (param i32) i32.const 1024 global.set $heap))
  (core instance $i (instantiate $m))
  (func (export "echo") (param "data" (list u8)) (result (list u8))
    (canon lift (core func $i "echo") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))
      (post-return (core func $i "cabi_post_echo")))))
"""

HOST_WAT = """
(component
  (import "host" (func $h (param "x" u32) (result u32)))
  (core func $hl (canon lower (func $h)))
  (core module $m
    (import "host" "f" (func $f (param i32) (result i32)))
    (func (export "run") (param $n i32) (result i32)
      (local $acc i32)
      (block $done (loop $l
        local.get $n i32.eqz br_if $done
        local.get $acc call $f local.set $acc
        local.get $n i32.const 1 i32.sub local.set $n
        br $l))
      local.get $acc))
  (core instance $i (instantiate $m (with "host" (instance (export "f" (func $hl))))))
  (func (export "run") (param "n" u32) (result u32) (canon lift (core func $i "run"))))
"""


# Guest → host with a `list<u8>` argument (as `output-stream.blocking-write-and-flush` passes a body
# chunk): `run(n, len)` calls the import `n` times on the first `len` bytes of its memory.
HOST_BYTES_WAT = """
(component
  (import "sink" (func $h (param "data" (list u8)) (result u32)))
  (core module $mem (memory (export "memory") 1))
  (core instance $mi (instantiate $mem))
  (core func $hl (canon lower (func $h) (memory (core memory $mi "memory"))))
  (core module $m
    (import "host" "f" (func $f (param i32 i32) (result i32)))
    (func (export "run") (param $n i32) (param $len i32) (result i32)
      (local $acc i32)
      (block $done (loop $l
        local.get $n i32.eqz br_if $done
        i32.const 0 local.get $len call $f local.get $acc i32.add local.set $acc
        local.get $n i32.const 1 i32.sub local.set $n
        br $l))
      local.get $acc))
  (core instance $i (instantiate $m (with "host" (instance (export "f" (func $hl))))))
  (func (export "run") (param "n" u32) (param "len" u32) (result u32) (canon lift (core func $i "run"))))
"""


def _per_call(fn: Callable[[], Any], n: int, repeat: int) -> float:
    """Median seconds per call over `repeat` batches of `n` calls."""
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def _raw_calc(engine: wasmtime.Engine, component: wc.Component) -> tuple[wasmtime.Store, wc.Instance]:
    linker = wc.Linker(engine)
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1 << 62)  # the runtime's engine interrupts on epochs: no deadline here
    return store, linker.instantiate(store, component)


def _host_calls(rt: Any, wat: str, name: str, fn: Callable[..., Any], check_args: tuple[int, ...], expect: int,
                case: str, n: int, repeat: int) -> dict[str, Any]:
    """Per-call cost of a host import `name` made from the guest's `run(n, ...)`: stock `add_func`, our
    typed-call imports, and `_hostcall.define_func` as the WASI layer uses it."""
    from wasmhive.component._hostcall import define_func
    from wasmhive.wasi import HOST_RESOURCES

    component = rt.load(wat.encode()).component

    def instantiate(define: Callable[[wc.LinkerInstance], None]) -> Callable[..., Any]:
        linker = wc.Linker(rt.engine)
        with linker.root() as root:
            define(root)
        store = wasmtime.Store(rt.engine)
        store.set_epoch_deadline(1 << 62)
        func = linker.instantiate(store, component).get_func(store, "run")
        assert func is not None
        return lambda *args: func(store, *args)

    stock = instantiate(lambda root: root.add_func(name, lambda _store, *args: fn(*args)))
    fast = instantiate(lambda root: define_func(root, name, fn, host_resources=HOST_RESOURCES))
    typed = rt.component(wat.encode(), imports={name: fn}).exports.run
    extra = check_args[1:]
    assert stock(*check_args) == typed(*check_args) == fast(*check_args) == expect, case
    per = {label: _per_call(lambda f=f: f(n, *extra), 1, repeat) / n * 1e6
           for label, f in (("raw_us", stock), ("wasmhive_us", typed), ("hostcall_us", fast))}
    return {"case": case, **per}


def run(quick: bool = False) -> dict[str, Any]:
    import build as examples  # examples/components/build.py

    from wasmhive import Runtime

    n, repeat = (2_000, 3) if quick else (20_000, 7)
    host_n = 2_000 if quick else 50_000
    calc_path = examples.build_c()
    values = list(range(-50, 50))
    rows: list[dict[str, Any]] = []
    with Runtime() as rt:
        calc = rt.component(calc_path)
        ex = calc.exports
        store, raw = _raw_calc(rt.engine, calc.compiled.component)
        ops = raw.get_export_index(store, "docs:math/ops")
        raw_add = raw.get_func(store, "add")
        raw_greet = raw.get_func(store, raw.get_export_index(store, "greet", ops))  # type: ignore[arg-type]
        raw_stats = raw.get_func(store, raw.get_export_index(store, "stats", ops))  # type: ignore[arg-type]
        assert raw_add and raw_greet and raw_stats
        w_add, w_greet, w_stats = ex.add, ex.ops.greet, ex.ops.stats
        assert raw_add(store, 3, 4) == w_add(3, 4) == 7
        assert raw_greet(store, "Ada") == w_greet("Ada") == "Hello, Ada!"
        assert raw_stats(store, values).count == w_stats(values).count == 100
        cases: list[tuple[str, Callable[[], Any], Callable[[], Any], int]] = [
            ("add(u32, u32) -> u32", lambda: raw_add(store, 3, 4), lambda: w_add(3, 4), n),
            ("greet(string) -> string", lambda: raw_greet(store, "Ada"), lambda: w_greet("Ada"), n),
            ("stats(list<s32> x100) -> record", lambda: raw_stats(store, values), lambda: w_stats(values),
             max(200, n // 10)),
        ]
        bytes_component = rt.load(BYTES_WAT.encode()).component
        bstore, braw = _raw_calc(rt.engine, bytes_component)
        raw_echo = braw.get_func(bstore, "echo")
        assert raw_echo is not None
        w_echo = rt.component(BYTES_WAT.encode()).exports.echo
        blob = bytes(range(256)) * (16 if quick else 64)
        assert raw_echo(bstore, blob) == w_echo(blob) == blob
        cases.append((f"echo(list<u8> x {len(blob) // 1024} KiB)", lambda: raw_echo(bstore, blob),
                      lambda: w_echo(blob), 5 if quick else 20))
        for name, raw_fn, ours_fn, count in cases:
            rows.append({"case": name, "raw_us": _per_call(raw_fn, count, repeat) * 1e6,
                         "wasmhive_us": _per_call(ours_fn, count, repeat) * 1e6})

        # Guest → host: one export call that makes `host_n` import calls, three ways.
        rows.append(_host_calls(rt, HOST_WAT, "host", lambda x: (x + 1) & 0xFFFFFFFF, (10,), 10,
                                "host import (u32) -> u32, per call", host_n, repeat))
        rows.append(_host_calls(rt, HOST_BYTES_WAT, "sink", len, (10, 4096), 40960,
                                "host import (list<u8> x 4 KiB) -> u32, per call", host_n // 100, repeat))
    for r in rows:
        r["ratio"] = r["wasmhive_us"] / r["raw_us"]
        if "hostcall_us" in r:
            r["hostcall_ratio"] = r["hostcall_us"] / r["raw_us"]
    return {"mode": "quick" if quick else "full", "python": platform.python_version(),
            "wasmtime": wasmtime.__version__ if hasattr(wasmtime, "__version__") else "?",
            "machine": platform.machine(), "rows": rows}


def _uptime() -> str:
    """The machine's load: a shared box's neighbours show up in every number."""
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime: unavailable"


def table(report: dict[str, Any]) -> str:
    lines = ["| call | raw wasmtime-py (µs) | wasmhive typed (µs) | typed / raw | define_func (µs) | define_func / raw |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        fast = (f"{r['hostcall_us']:.2f} | {r['hostcall_ratio']:.2f}" if "hostcall_us" in r else "- | -")
        lines.append(f"| {r['case']} | {r['raw_us']:.2f} | {r['wasmhive_us']:.2f} | {r['ratio']:.2f} | {fast} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few iterations, for CI (a few seconds)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    ap.add_argument("--save", action="store_true", help="record a full run in benchmarks/RESULTS.md (and its charts)")
    args = ap.parse_args(argv)
    before = _uptime()
    report = run(args.quick)
    report["uptime"] = [before, _uptime()]
    text = table(report) + f"\n\nLoad before: `{before}`; after: `{report['uptime'][1]}`."
    print(f"component calls ({report['mode']}; Python {report['python']}, {report['machine']})\n")
    print(text)
    worst = max(r["ratio"] for r in report["rows"])
    print(f"\nworst ratio {worst:.2f} (goal: ≤ 1.25)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.save and not args.quick:
        sys.path.insert(0, str(HERE))
        from _results import update_section

        update_section("component-calls", "## Component calls: wasmhive vs raw wasmtime-py\n\n"
                       "`python benchmarks/component_calls.py --save`\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
