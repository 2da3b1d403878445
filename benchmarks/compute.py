"""Compute benchmark: the same workloads in JavaScript, WebAssembly (through wasmhive), native C and Python.

Workloads (sources in `benchmarks/compute/{c,js,py}`, one algorithm per workload in every language):
matrix multiply (n x n f32), PNG encode (filters + zlib deflate) of an RGBA image, AES-256-CTR, SHA-256.
Every implementation's output is checked (hash, or a full PNG decode) before its times count; each
implementation gets a warm-up and several runs; medians are reported and every ratio is computed from
numbers taken in the same run. The Wasm side runs in a wasmhive `Runtime`: inputs are written once into
guest linear memory through numpy views of it and the exports are called with pointers.

    python benchmarks/compute.py [--quick] [--json out.json]
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE / "compute"
# Appended, not prepended: a benchmark module must never shadow the standard library.
for _p in (str(SRC / "py"), str(HERE)):
    if _p not in sys.path:
        sys.path.append(_p)

import bench_aes  # noqa: E402
import bench_matmul  # noqa: E402
import bench_png  # noqa: E402
import bench_sha256  # noqa: E402

from _harness import median  # noqa: E402

WORKLOADS = ("matmul", "png", "aes", "sha256")
IMPLS = ("js", "js-lib", "wasm", "wasm-simd", "native", "py", "py-lib")
IMPL_LABELS = {
    "js": "JS", "js-lib": "JS lib", "wasm": "Wasm scalar", "wasm-simd": "Wasm SIMD", "native": "native",
    "py": "Python", "py-lib": "Python lib",
}
# The seed's claims (JS time / Wasm time) that the issue asks us to reproduce.
SEED_SPEEDUP = {"matmul": 6.1, "png": 6.5, "aes": 6.8}
NATIVE_GOAL = 1.5
C_SOURCES = ("alloc.c", "matmul.c", "sha256.c", "aes.c", "png.c")
WASM_FLAGS = ("-O3", "-nostdlib", "-Wl,--no-entry", "-s")
NATIVE_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared")


@dataclass(frozen=True)
class Sizes:
    """Problem sizes and repetitions for one mode."""

    n: int
    width: int
    height: int
    aes: int
    sha: int
    pure_n: int      # pure-Python matmul runs on a smaller matrix; its time is scaled by (n/pure_n)^3
    pure_aes: int    # ... and pure-Python AES / SHA on a prefix, scaled linearly
    pure_sha: int
    runs: int
    warmup: int
    level: int = 6


FULL = Sizes(n=1024, width=3840, height=2160, aes=16 << 20, sha=64 << 20, pure_n=128, pure_aes=128 << 10,
             pure_sha=1 << 20, runs=5, warmup=1)
QUICK = Sizes(n=192, width=480, height=270, aes=1 << 20, sha=4 << 20, pure_n=32, pure_aes=8 << 10,
              pure_sha=64 << 10, runs=3, warmup=1)


@dataclass
class Result:
    """One implementation of one workload: its times (seconds), and whether its output was right."""

    workload: str
    impl: str
    times: list[float] = field(default_factory=list)
    ok: bool = False
    scale: float = 1.0        # > 1: measured on a smaller input and scaled to the full one
    note: str = ""
    digest: str = ""
    size: int = 0             # output bytes (for PNG: the file size, which depends on the deflater)

    @property
    def seconds(self) -> float | None:
        """The median time, scaled; None if the output was wrong or the implementation is missing."""
        return median(self.times) * self.scale if self.ok and self.times else None


@dataclass
class Report:
    """Everything one run measured."""

    mode: str
    sizes: Sizes
    results: list[Result] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    def get(self, workload: str, impl: str) -> Result | None:
        return next((r for r in self.results if r.workload == workload and r.impl == impl), None)

    def seconds(self, workload: str, impl: str) -> float | None:
        r = self.get(workload, impl)
        return r.seconds if r else None

    def best_wasm(self, workload: str) -> float | None:
        times = [t for t in (self.seconds(workload, "wasm"), self.seconds(workload, "wasm-simd")) if t]
        return min(times) if times else None

    def ratios(self, workload: str) -> tuple[float | None, float | None]:
        """(JS time / best Wasm time, best Wasm time / native time)."""
        wasm, js, native = self.best_wasm(workload), self.seconds(workload, "js"), self.seconds(workload, "native")
        return (js / wasm if js and wasm else None, wasm / native if wasm and native else None)

    @property
    def all_ok(self) -> bool:
        """Every implementation that ran produced the right output."""
        return all(r.ok for r in self.results if r.times or not r.note.startswith("missing"))

    def rows(self) -> list[list[str]]:
        """The results table: workload | one column per implementation | Wasm vs JS | Wasm / native."""
        out = []
        for w in WORKLOADS:
            cells = [describe(self.sizes, w)]
            for impl in IMPLS:
                r = self.get(w, impl)
                cells.append(_cell(r))
            speedup, vs_native = self.ratios(w)
            cells.append(f"{speedup:.1f}x" if speedup else "—")
            cells.append(f"{vs_native:.2f}x" if vs_native else "—")
            out.append(cells)
        return out

    def header(self) -> list[str]:
        return ["workload", *(IMPL_LABELS[i] for i in IMPLS), "Wasm speed-up vs JS", "Wasm / native"]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "sizes": asdict(self.sizes), "environment": self.environment,
            "results": [{**asdict(r), "median": r.seconds} for r in self.results],
            "ratios": {w: dict(zip(("wasm_speedup_vs_js", "wasm_over_native"), self.ratios(w), strict=True))
                       for w in WORKLOADS},
            "all_ok": self.all_ok,
        }


def _cell(r: Result | None) -> str:
    if r is None:
        return "—"
    if not r.ok:
        return "FAIL" if r.times or r.note.startswith("wrong") else "—"
    s = r.seconds or 0.0
    text = f"{s * 1000:.0f} ms" if s >= 0.1 else f"{s * 1000:.1f} ms"
    return text + (" *" if r.scale != 1.0 else "")


def describe(sizes: Sizes, workload: str) -> str:
    return {
        "matmul": f"matmul {sizes.n}x{sizes.n} f32",
        "png": f"PNG encode {sizes.width}x{sizes.height} RGBA",
        "aes": f"AES-256-CTR {sizes.aes >> 20} MiB",
        "sha256": f"SHA-256 {sizes.sha >> 20} MiB",
    }[workload]


def sha(data: Any) -> str:
    """SHA-256 hex of bytes or of any buffer (numpy arrays and guest-memory views hash without a copy)."""
    return hashlib.sha256(memoryview(data).cast("B") if not isinstance(data, bytes) else data).hexdigest()


# -- inputs ---------------------------------------------------------------------------------------------
def make_inputs(s: Sizes) -> dict[str, Any]:
    """Deterministic inputs. Matrices hold small integers so every summation order gives the exact result."""
    rng = np.random.default_rng(20261125)
    inputs: dict[str, Any] = {
        "a": rng.integers(-8, 9, (s.n, s.n)).astype(np.float32),
        "b": rng.integers(-8, 9, (s.n, s.n)).astype(np.float32),
        "pa": rng.integers(-8, 9, (s.pure_n, s.pure_n)).astype(np.float32),
        "pb": rng.integers(-8, 9, (s.pure_n, s.pure_n)).astype(np.float32),
        "image": make_image(s.width, s.height, rng),
        "key": rng.integers(0, 256, 32, dtype=np.uint8).tobytes(),
        # Low 32 bits near the wrap so the 128-bit counter carry is exercised.
        "iv": rng.integers(0, 256, 12, dtype=np.uint8).tobytes() + b"\xff\xff\xff\xf0",
        "plain": rng.integers(0, 256, s.aes, dtype=np.uint8),
        "shadata": rng.integers(0, 256, s.sha, dtype=np.uint8),
    }
    return inputs


def make_image(width: int, height: int, rng: np.random.Generator) -> Any:
    """A photo-like test card: smooth gradients, a few shapes and sensor-like noise (deflates to about half)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / width, yy / height
    r = 128 + 100 * np.sin(6.0 * u + 2.0 * v)
    g = 128 + 90 * np.cos(4.0 * v - 3.0 * u * v)
    b = 255 * (u * v)
    disc = (u - 0.6) ** 2 + (v - 0.4) ** 2 < 0.04
    r[disc], g[disc], b[disc] = 240, 200, 40
    stripes = ((xx // 24 + yy // 24) % 2 == 0) & (v > 0.75)
    b[stripes] = 30
    noise = rng.normal(0, 3.0, (3, height, width)).astype(np.float32)
    img = np.empty((height, width, 4), dtype=np.uint8)
    for i, ch in enumerate((r, g, b)):
        img[..., i] = np.clip(ch + noise[i], 0, 255).astype(np.uint8)
    img[..., 3] = 255
    return img


# -- builds ---------------------------------------------------------------------------------------------
def build_wasm(simd: bool) -> Path:
    """The workloads as one freestanding core module (no imports), built with zig and cached."""
    from wasmhive.app.toolchains import zig_cc

    return zig_cc([SRC / "c" / f for f in C_SOURCES], target="wasm32-wasi", flags=WASM_FLAGS, simd=simd)


def build_native() -> Path:
    """The workloads as a native shared library (gcc -O3 -march=native), cached by source hash."""
    from wasmhive.app.toolchains import build_cached
    from wasmhive.errors import BuildError

    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise BuildError("gcc", ["gcc"], "no C compiler (gcc) on PATH")
    srcs = [SRC / "c" / f for f in C_SOURCES]
    version = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]

    def build(dest: Path) -> None:
        cmd = [gcc, *NATIVE_FLAGS, "-o", str(dest), *map(str, srcs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise BuildError("gcc", cmd, proc.stderr)

    # -march=native code is only valid on this CPU: the CPU model is part of the key.
    return build_cached("gcc-native", [*srcs, SRC / "c" / "common.h", _cpu_model().encode()], build,
                        flags=NATIVE_FLAGS, tool_version=version, suffix=".so")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


# -- implementations ------------------------------------------------------------------------------------
class Backend:
    """Pointer-based access to the C workloads, either a Wasm instance or the native library."""

    def alloc(self, nbytes: int) -> int: ...
    def array(self, ptr: int, dtype: Any, count: int) -> Any: ...
    def call(self, name: str, *args: int) -> int: ...
    def mark(self) -> int: ...
    def release(self, mark: int) -> None: ...


class WasmBackend(Backend):
    """The Wasm module in a wasmhive `Runtime`. Arrays are numpy views aliasing guest linear memory."""

    def __init__(self, runtime: Any, path: Path) -> None:
        from wasmhive import Limits

        self.instance = runtime.instantiate(path, limits=Limits.unlimited())
        self.exports = self.instance.exports

    def alloc(self, nbytes: int) -> int:
        return int(self.exports.bh_alloc(nbytes))

    def array(self, ptr: int, dtype: Any, count: int) -> Any:
        # A fresh view each time: views are invalidated when the guest grows its memory.
        return self.instance.memory.numpy(dtype, ptr, count)

    def call(self, name: str, *args: int) -> int:
        return self.exports[name](*args)  # type: ignore[no-any-return]

    def mark(self) -> int:
        return int(self.exports.bh_mark())

    def release(self, mark: int) -> None:
        self.exports.bh_release(mark)


class NativeBackend(Backend):
    """The same C compiled natively, called through ctypes on numpy-owned buffers."""

    def __init__(self, path: Path) -> None:
        self.lib = ctypes.CDLL(str(path))
        self.lib.png_encode.restype = ctypes.c_uint32
        self.buffers: dict[int, Any] = {}

    def alloc(self, nbytes: int) -> int:
        buf = np.zeros(max(nbytes, 1) + 16, dtype=np.uint8)
        ptr = (buf.ctypes.data + 15) & ~15
        self.buffers[ptr] = buf
        return ptr

    def array(self, ptr: int, dtype: Any, count: int) -> Any:
        buf = self.buffers[ptr]
        off = ptr - buf.ctypes.data
        return buf[off:off + count * np.dtype(dtype).itemsize].view(dtype)

    def call(self, name: str, *args: int) -> int:
        return int(getattr(self.lib, name)(*(ctypes.c_uint64(a) if a > 0x7FFFFFFF else a for a in args)) or 0)

    def mark(self) -> int:
        return 0

    def release(self, mark: int) -> None:
        self.buffers.clear()


def run_backend(be: Backend, workload: str, inp: dict[str, Any], s: Sizes) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Place the inputs (one copy into the backend's memory) and return (run, output) closures."""
    if workload == "matmul":
        n = s.n
        pa, pb, pc = (be.alloc(n * n * 4) for _ in range(3))
        be.array(pa, np.float32, n * n)[:] = inp["a"].ravel()
        be.array(pb, np.float32, n * n)[:] = inp["b"].ravel()
        return (lambda: be.call("matmul", pa, pb, pc, n)), (lambda: be.array(pc, np.uint8, n * n * 4))
    if workload == "png":
        img = inp["image"]
        cap = img.size + img.size // 8 + 4096
        pimg, pout = be.alloc(img.size), be.alloc(cap)
        be.array(pimg, np.uint8, img.size)[:] = img.ravel()
        size = [0]

        def run_png() -> None:
            size[0] = be.call("png_encode", pimg, s.width, s.height, s.level, pout, cap)

        return run_png, (lambda: be.array(pout, np.uint8, size[0]).tobytes())
    if workload == "aes":
        n = s.aes
        pk, piv, pin, pout = be.alloc(32), be.alloc(16), be.alloc(n), be.alloc(n)
        be.array(pk, np.uint8, 32)[:] = np.frombuffer(inp["key"], np.uint8)
        be.array(piv, np.uint8, 16)[:] = np.frombuffer(inp["iv"], np.uint8)
        be.array(pin, np.uint8, n)[:] = inp["plain"]
        return (lambda: be.call("aes256_ctr", pk, piv, pin, pout, n)), (lambda: be.array(pout, np.uint8, n))
    if workload == "sha256":
        n = s.sha
        pin, pout = be.alloc(n), be.alloc(32)
        be.array(pin, np.uint8, n)[:] = inp["shadata"]
        return (lambda: be.call("sha256", pin, n, pout)), (lambda: be.array(pout, np.uint8, 32))
    raise ValueError(workload)


def python_impls(workload: str, inp: dict[str, Any], s: Sizes) -> dict[str, tuple[Callable[[], Any], float, Callable[[Any], bool]]]:
    """impl -> (run, scale, check) for the Python implementations of `workload`."""
    if workload == "matmul":
        a, b, pa, pb = inp["a"], inp["b"], inp["pa"], inp["pb"]
        la, lb, pn = pa.ravel().tolist(), pb.ravel().tolist(), s.pure_n
        small_ref = (pa @ pb).astype(np.float32).tobytes()
        return {
            "py": (lambda: bench_matmul.pure(la, lb, pn), (s.n / pn) ** 3,
                   lambda out: np.asarray(out, np.float32).tobytes() == small_ref),
            "py-lib": (lambda: bench_matmul.lib(a, b), 1.0, lambda out: sha(out) == inp["expect"]["matmul"]),
        }
    if workload == "png":
        img = inp["image"]
        return {"py-lib": (lambda: bench_png.lib(img, s.width, s.height, s.level), 1.0,
                           lambda out: bench_png.decodes_to(out, img, s.width, s.height))}
    if workload == "aes":
        key, iv, plain = inp["key"], inp["iv"], inp["plain"]
        part = plain[:s.pure_aes].tobytes()
        part_ref = bench_aes.lib(key, iv, part)
        return {
            "py": (lambda: bench_aes.pure(key, iv, part), s.aes / s.pure_aes, lambda out: out == part_ref),
            "py-lib": (lambda: bench_aes.lib(key, iv, plain), 1.0, lambda out: sha(out) == inp["expect"]["aes"]),
        }
    if workload == "sha256":
        data = inp["shadata"]
        part = data[:s.pure_sha].tobytes()
        return {
            "py": (lambda: bench_sha256.pure(part), s.sha / s.pure_sha, lambda out: out == bench_sha256.lib(part)),
            "py-lib": (lambda: bench_sha256.lib(data), 1.0, lambda out: sha(out) == inp["expect"]["sha256"]),
        }
    raise ValueError(workload)


def expected(inp: dict[str, Any]) -> dict[str, str]:
    """Reference digests from the libraries (exact: see `make_inputs`). PNG is checked by decoding instead."""
    return {
        "matmul": sha((inp["a"] @ inp["b"]).astype(np.float32)),
        "aes": sha(bench_aes.lib(inp["key"], inp["iv"], inp["plain"])),
        "sha256": sha(bench_sha256.lib(inp["shadata"])),
    }


def write_js_inputs(d: Path, inp: dict[str, Any], s: Sizes) -> None:
    (d / "params.json").write_text(json.dumps({"matmul": {"n": s.n},
                                               "png": {"width": s.width, "height": s.height, "level": s.level}}))
    inp["a"].tofile(d / "matmul-a.f32")
    inp["b"].tofile(d / "matmul-b.f32")
    inp["image"].tofile(d / "png-image.rgba")
    (d / "aes-key.bin").write_bytes(inp["key"])
    (d / "aes-iv.bin").write_bytes(inp["iv"])
    inp["plain"].tofile(d / "aes-plain.bin")
    inp["shadata"].tofile(d / "sha-data.bin")


def ensure_pako() -> str:
    """Install the JS side's npm dependency (pako) if missing; returns "" or why it is unavailable."""
    js = SRC / "js"
    if (js / "node_modules" / "pako").is_dir():
        return ""
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found"
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=js, capture_output=True,
                          text=True, check=False, timeout=300)
    return "" if proc.returncode == 0 else f"npm ci failed: {proc.stderr.strip()[-200:]}"


class NodeWorker:
    """The JS implementations in one long-lived `node` process, driven one command at a time (see run.mjs)."""

    def __init__(self, d: Path) -> None:
        node = shutil.which("node")
        if node is None:
            raise FileNotFoundError("node not found on PATH")
        self.proc = subprocess.Popen([node, str(SRC / "js" / "run.mjs"), str(d)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"node exited ({self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"node: {answer['error'][:500]}")
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the run --------------------------------------------------------------------------------------------
Progress = Callable[[str], None]


def _check_png(out: bytes, inp: dict[str, Any], s: Sizes, verified: dict[str, bool]) -> bool:
    key = sha(out)
    if key not in verified:
        verified[key] = bench_png.decodes_to(out, inp["image"], s.width, s.height)
    return verified[key]


def _timed(fn: Callable[[], Any]) -> Callable[[], float]:
    def once() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    return once


def run(quick: bool = False, workloads: tuple[str, ...] = WORKLOADS, progress: Progress | None = None) -> Report:
    """Measure every implementation of every workload; returns the report (see `Report.rows`).

    Per workload: every implementation runs once and its output is checked (that run is also the first
    warm-up); then the timed runs go round-robin (one run of each implementation per round), so a change
    in machine load during the run hits every column alike instead of skewing the ratios.
    """
    from wasmhive import Runtime

    s = QUICK if quick else FULL
    say = progress or (lambda _msg: None)
    report = Report("quick" if quick else "full", s, environment=environment())
    say("preparing inputs")
    inp = make_inputs(s)
    inp["expect"] = expected(inp)
    verified_png: dict[str, bool] = {}
    say("building (zig wasm32 scalar + SIMD, gcc native; cached)")
    backends: dict[str, Backend | str] = {}
    rt = Runtime()
    for impl, simd in (("wasm", False), ("wasm-simd", True)):
        try:
            backends[impl] = WasmBackend(rt, build_wasm(simd))
        except Exception as e:
            backends[impl] = f"missing: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    try:
        backends["native"] = NativeBackend(build_native())
    except Exception as e:
        backends["native"] = f"missing: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    pako_problem = ensure_pako()
    with tempfile.TemporaryDirectory(prefix="wasmhive-bench-") as tmp:
        d = Path(tmp)
        write_js_inputs(d, inp, s)
        node: NodeWorker | str
        try:
            node = NodeWorker(d)
        except Exception as e:
            node = f"missing: {e}"
        try:
            for w in workloads:
                _run_workload(report, w, inp, s, backends, node, pako_problem, verified_png, say)
        finally:
            if isinstance(node, NodeWorker):
                node.close()
    rt.close()
    report.environment["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return report


def _run_workload(report: Report, w: str, inp: dict[str, Any], s: Sizes, backends: dict[str, Backend | str],
                  node: NodeWorker | str, pako_problem: str, verified_png: dict[str, bool], say: Progress) -> None:
    timers: dict[str, Callable[[], float]] = {}
    results: list[Result] = []
    marks: list[tuple[Backend, int]] = []
    # 1. Run each implementation once and check its output.
    say(f"{w}: JavaScript (node), checking outputs")
    if isinstance(node, str):
        results.append(Result(w, "js", note=node))
    else:
        try:
            for rec in node.ask(cmd="setup", workload=w)["impls"]:
                r = Result(w, rec["impl"], digest=rec["hash"], note=rec.get("library") or "", size=rec["size"])
                if w == "png":
                    r.ok = _check_png((node_dir(node) / rec["file"]).read_bytes(), inp, s, verified_png)
                else:
                    r.ok = rec["hash"] == inp["expect"][w]
                if r.ok:
                    timers[r.impl] = (lambda impl=r.impl: float(node.ask(cmd="time", workload=w, impl=impl)["seconds"]))  # type: ignore[union-attr]
                else:
                    r.note = "wrong output"
                results.append(r)
        except Exception as e:
            results.append(Result(w, "js", note=f"missing: {e}"))
    if w == "png" and not any(r.impl == "js-lib" for r in results):
        results.append(Result(w, "js-lib", note=f"missing: pako ({pako_problem or 'not loaded'})"))
    for impl in ("wasm", "wasm-simd", "native"):
        be = backends[impl]
        if isinstance(be, str):
            results.append(Result(w, impl, note=be))
            continue
        say(f"{w}: {IMPL_LABELS[impl]}, checking output")
        marks.append((be, be.mark()))
        fn, output = run_backend(be, w, inp, s)
        fn()
        out = output()
        ok = _check_png(out, inp, s, verified_png) if w == "png" else sha(out) == inp["expect"][w]
        results.append(Result(w, impl, ok=ok, digest=sha(out), size=len(out), note="" if ok else "wrong output"))
        if ok:
            timers[impl] = _timed(fn)
    for impl, (fn, scale, check) in python_impls(w, inp, s).items():
        say(f"{w}: {IMPL_LABELS[impl]}, checking output")
        out = fn()
        ok = bool(check(out))
        r = Result(w, impl, ok=ok, scale=scale, digest=sha(out) if isinstance(out, bytes) else "",
                   size=len(out) if isinstance(out, bytes) else 0, note="" if ok else "wrong output")
        if ok and scale != 1.0:
            # Pure Python is slow: one timed run on a smaller input, scaled, outside the rounds.
            r.times = [_timed(fn)()]
            r.note = f"measured on 1/{scale:.0f} of the work, scaled"
        elif ok:
            timers[impl] = _timed(fn)
        results.append(r)
    # 2. More warm-up, then the timed rounds.
    by_impl = {r.impl: r for r in results}
    for _ in range(max(0, s.warmup - 1)):
        for t in timers.values():
            t()
    for i in range(s.runs):
        say(f"{w}: timed round {i + 1}/{s.runs}")
        for impl, t in timers.items():
            by_impl[impl].times.append(t())
    for be, mark in marks:
        be.release(mark)
    report.results.extend(results)
    if w == "png":
        _png_same_bytes(report)


def node_dir(node: NodeWorker) -> Path:
    """The directory the worker reads its inputs from (and writes its PNG files to)."""
    return Path(node.proc.args[2])  # type: ignore[index]


def _png_same_bytes(report: Report) -> None:
    """Note which PNG outputs are byte-identical to the Wasm one (our C and JS deflate should be)."""
    ref = report.get("png", "wasm")
    if ref is None or not ref.ok:
        return
    for r in report.results:
        if r.workload == "png" and r.ok and r.impl != "wasm":
            same = "same bytes as Wasm" if r.digest == ref.digest else f"other deflater: {r.size:,} bytes vs {ref.size:,}"
            r.note = f"{r.note}; {same}" if r.note else same


def environment() -> dict[str, str]:
    """The machine and the versions of everything measured."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def tool(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not found"

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    pako = SRC / "js" / "node_modules" / "pako" / "package.json"
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "wasmtime-py": pkg("wasmtime"),
        "numpy": pkg("numpy"),
        "cryptography": pkg("cryptography"),
        "ziglang": pkg("ziglang"),
        "gcc": tool(["gcc", "--version"]),
        "node": tool(["node", "--version"]),
        "pako": json.loads(pako.read_text())["version"] if pako.is_file() else "not installed",
        # A shared machine: the load when the run started says how much to trust absolute numbers.
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def save(report: Report) -> list[Path]:
    """Record a full run: the `compute` section of RESULTS.md and `compute.png` beside it."""
    from _results import RESULTS, bar_chart, update_section

    env = ", ".join(f"{k} {v}" for k, v in report.environment.items())
    notes = []
    for r in report.results:
        if r.note and not r.note.startswith("same bytes"):
            notes.append(f"- {describe(report.sizes, r.workload).split()[0]} / {IMPL_LABELS[r.impl]}: {r.note}")
    goals = []
    for w in WORKLOADS:
        speedup, vs_native = report.ratios(w)
        claim = SEED_SPEEDUP.get(w)
        goals.append([describe(report.sizes, w), f"{speedup:.1f}x" if speedup else "—",
                      f"{claim}x" if claim else "(none)",
                      ("yes" if speedup and speedup >= claim else "no") if claim else "—",
                      f"{vs_native:.2f}x" if vs_native else "—",
                      ("yes" if vs_native and vs_native <= NATIVE_GOAL else "no") if vs_native else "—"])
    body = "\n".join([
        f"Machine and versions: {env}.",
        "",
        markdown_table(report.header(), report.rows()),
        "",
        "Goals (best Wasm build; ratios from this run):",
        "",
        markdown_table(["workload", "Wasm speed-up vs JS", "seed's claim", "met", "Wasm / native",
                        f"within {NATIVE_GOAL}x of native"], goals),
        "",
        f"Medians of {report.sizes.runs} runs after {report.sizes.warmup} warm-up; `*` = scaled from a smaller "
        "input (see notes). All outputs verified: " + ("yes" if report.all_ok else "NO (see notes)") + ".",
        "",
        *notes,
        "",
        "![compute](compute.png) ![speed-up](compute-speedup.png)",
    ])
    update_section("compute", body)
    groups = [describe(report.sizes, w).split(" ")[0] for w in WORKLOADS]
    series = {IMPL_LABELS[i]: [report.seconds(w, i) for w in WORKLOADS] for i in IMPLS}
    chart = bar_chart(RESULTS.parent / "compute.png", "Compute workloads: median time (s, log scale; lower is better)",
                      groups, series, "seconds")
    ratios = bar_chart(RESULTS.parent / "compute-speedup.png", "Wasm speed-up vs JS: measured here vs the seed's claim",
                       groups, {"measured (best Wasm build)": [report.ratios(w)[0] for w in WORKLOADS],
                                "seed's claim": [SEED_SPEEDUP.get(w) for w in WORKLOADS]}, "JS time / Wasm time",
                       log=False)
    return [RESULTS, *(c for c in (chart, ratios) if c)]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for CI (under a minute)")
    ap.add_argument("--json", type=Path, help="write the full results as JSON here")
    ap.add_argument("--save", action="store_true", help="record a full run in benchmarks/RESULTS.md (and its charts)")
    args = ap.parse_args(argv)
    report = run(args.quick, progress=lambda m: print(f"  .. {m}", file=sys.stderr, flush=True))
    print(markdown_table(report.header(), report.rows()))
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2))
    if args.save and not args.quick:
        save(report)
    return 0 if report.all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
