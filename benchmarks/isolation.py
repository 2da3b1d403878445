"""Isolation benchmark: Wasm instances in one process vs processes vs OCI containers.

Measures, on this machine:
- start: a fresh wasmhive instance (tiny C module; a componentize-py component) in a running process,
  vs starting `python3 -c pass`, `node -e 0`, and a real OCI container (`runc run`, busybox rootfs);
- memory: resident memory per instance with many instances alive at once (default 1,000), vs per
  sleeping process and per container;
- size: the .wasm files and their compiled cache entries vs a busybox rootfs, the Python and Node installs.

    python benchmarks/isolation.py [--quick] [--json out.json]
"""

from __future__ import annotations

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

HERE = Path(__file__).resolve().parent
GUESTS = HERE / "guests"
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from _harness import measure, measure_process, median  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """How many repetitions and live instances one mode uses."""

    instance_runs: int
    component_runs: int
    process_runs: int
    alive_instances: int
    alive_components: int
    alive_processes: int


FULL = Plan(instance_runs=2000, component_runs=100, process_runs=20, alive_instances=1000, alive_components=1000,
            alive_processes=20)
QUICK = Plan(instance_runs=200, component_runs=10, process_runs=3, alive_instances=100, alive_components=5,
             alive_processes=3)


@dataclass
class Row:
    """One measured thing: a value with its unit, or why it could not be measured."""

    what: str
    value: float | None
    unit: str
    note: str = ""


@dataclass
class Report:
    mode: str
    plan: Plan
    start: list[Row] = field(default_factory=list)
    memory: list[Row] = field(default_factory=list)
    size: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def all_ok(self) -> bool:
        """The Wasm measurements all worked (processes and containers may be unavailable on a host)."""
        return all(r.value is not None for r in (*self.start, *self.memory) if r.what.startswith("wasmhive"))

    def tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        def fmt(r: Row) -> str:
            if r.value is None:
                return "—"
            if r.unit == "s":
                v = r.value
                return f"{v * 1e6:.0f} µs" if v < 1e-3 else f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s"
            if r.unit == "B":
                return _size(r.value)
            return f"{r.value:g} {r.unit}"

        return [
            ("start (median)", ["what", "time", "note"], [[r.what, fmt(r), r.note] for r in self.start]),
            ("memory per live instance", ["what", "resident", "note"], [[r.what, fmt(r), r.note] for r in self.memory]),
            ("artifact size", ["artifact", "size", "note"], [[r.what, fmt(r), r.note] for r in self.size]),
        ]

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "plan": asdict(self.plan), "start": [asdict(r) for r in self.start],
                "memory": [asdict(r) for r in self.memory], "size": [asdict(r) for r in self.size],
                "problems": self.problems, "all_ok": self.all_ok}


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# -- guests ---------------------------------------------------------------------------------------------
def tiny_module() -> Path:
    from wasmhive.app.toolchains import zig_cc

    return zig_cc([GUESTS / "tiny.c"], target="wasm32-freestanding", flags=("-O2", "-nostdlib", "-Wl,--no-entry", "-s"))


def python_component() -> Path:
    from wasmhive.app.toolchains import componentize_py

    return componentize_py(GUESTS / "hello_py" / "wit", "hello", GUESTS / "hello_py" / "app.py")


def _component_instance(rt: Any, compiled: Any) -> tuple[Any, Any]:
    from wasmhive import Limits, Sandbox

    store = rt.new_store(Limits.unlimited())
    store.set_wasi(Sandbox().wasi_config())
    inst = rt.component_linker().instantiate(store, compiled.component)
    return store, inst


def _greet(store: Any, inst: Any) -> str:
    func = inst.get_func(store, "greet")
    out = func(store, "bench")
    func.post_return(store)
    return str(out)


# -- start ----------------------------------------------------------------------------------------------
def measure_instances(report: Report, say: Callable[[str], None]) -> None:
    from wasmhive import Runtime

    p = report.plan
    say("start: tiny C module in-process")
    with Runtime() as rt:
        tiny = rt.load(tiny_module())
        def start_tiny() -> None:
            inst = rt.instantiate(tiny)
            assert inst.exports.add(2, 3) == 5
        report.start.append(Row("wasmhive instance: tiny C module (instantiate + call)",
                                median(measure(start_tiny, p.instance_runs, 20)), "s", f"n={p.instance_runs}"))
    with Runtime(pooling=True, pooling_instances=max(p.alive_instances, 100)) as rt:
        tiny = rt.load(tiny_module())
        def start_pooled() -> None:
            inst = rt.instantiate(tiny)
            assert inst.exports.add(2, 3) == 5
        report.start.append(Row("wasmhive instance: tiny C module, pooling allocator",
                                median(measure(start_pooled, p.instance_runs, 20)) if rt.pooling else None, "s",
                                f"n={p.instance_runs}" if rt.pooling else "pooling allocator unavailable here"))
    say("start: Python component (componentize-py) in-process")
    try:
        path = python_component()
        with Runtime() as rt:
            t0 = time.perf_counter()
            comp = rt.load(path)
            load_s = time.perf_counter() - t0
            def start_component() -> None:
                store, inst = _component_instance(rt, comp)
                assert _greet(store, inst) == "hello, bench"
            report.start.append(Row("wasmhive instance: Python component (instantiate + call)",
                                    median(measure(start_component, p.component_runs, 3)), "s",
                                    f"n={p.component_runs}"))
            report.start.append(Row("wasmhive: load Python component (compile or cache hit)", load_s, "s",
                                    "from the compile cache" if comp.from_cache else "compiled now (first time)"))
    except Exception as e:
        report.problems.append(f"Python component: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        report.start.append(Row("wasmhive instance: Python component (instantiate + call)", None, "s", "build failed"))


def measure_processes(report: Report, say: Callable[[str], None]) -> None:
    n = report.plan.process_runs
    # The interpreter itself (sys.executable), not a `python3` on PATH that may be a pyenv shell shim.
    for label, cmd in (("process: python3 -c pass", [sys.executable, "-c", "pass"]),
                       ("process: python3 -S -c pass (no site)", [sys.executable, "-S", "-c", "pass"]),
                       ("process: node -e 0", ["node", "-e", "0"])):
        say(f"start: {label}")
        if shutil.which(cmd[0]) is None:
            report.start.append(Row(label, None, "s", f"{cmd[0]} not found"))
            continue
        times = measure_process(cmd, n, warmup=1)
        report.start.append(Row(label, median(times), "s", f"n={n}"))


# -- containers -----------------------------------------------------------------------------------------
class Bundle:
    """An OCI bundle with a busybox-static rootfs, run with `runc` (state kept in a private directory)."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.state = root / "state"
        rootfs = root / "rootfs" / "bin"
        rootfs.mkdir(parents=True)
        busybox = shutil.which("busybox")
        if busybox is None:
            raise RuntimeError("busybox not found (apt-get install busybox-static)")
        shutil.copy(busybox, rootfs / "busybox")
        for applet in ("sh", "true", "sleep"):
            (rootfs / applet).symlink_to("busybox")
        subprocess.run(["runc", "spec"], cwd=root, check=True, capture_output=True)
        self.config = json.loads((root / "config.json").read_text())
        self.config["process"]["terminal"] = False
        self.n = 0

    def run(self, args: list[str], detach: bool = False) -> str:
        self.config["process"]["args"] = args
        (self.dir / "config.json").write_text(json.dumps(self.config))
        self.n += 1
        cid = f"wasmhive-bench-{os.getpid()}-{self.n}"
        cmd = ["runc", "--root", str(self.state), "run", *(["-d"] if detach else []), "-b", str(self.dir), cid]
        # Output goes to a file, not a pipe: a detached container inherits it and would hold a pipe open.
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, timeout=60, check=False)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if proc.returncode:
            raise RuntimeError(f"runc run failed ({proc.returncode}): {text.strip()[:300]}")
        return cid

    def pid(self, cid: str) -> int:
        out = subprocess.run(["runc", "--root", str(self.state), "state", cid], capture_output=True, text=True,
                             check=True).stdout
        return int(json.loads(out)["pid"])

    def remove(self, cid: str) -> None:
        subprocess.run(["runc", "--root", str(self.state), "delete", "--force", cid], capture_output=True, check=False)


def measure_containers(report: Report, tmp: Path, say: Callable[[str], None]) -> None:
    say("start: OCI container (runc, busybox rootfs)")
    label = "container: runc run (busybox /bin/true)"
    if shutil.which("runc") is None:
        report.start.append(Row(label, None, "s", "runc not installed (apt-get install runc)"))
        return
    try:
        bundle = Bundle(tmp / "bundle")
        bundle.run(["/bin/true"])
    except Exception as e:
        report.problems.append(f"containers: {e}")
        report.start.append(Row(label, None, "s", f"not available here: {str(e)[:160]}"))
        return
    n = report.plan.process_runs
    report.start.append(Row(label, median(measure(lambda: bundle.run(["/bin/true"]), n, 1)), "s", f"n={n}"))
    report.size.append(Row("container rootfs (busybox-static)", _du(bundle.dir / "rootfs"), "B", "smallest useful image"))
    say("memory: live containers")
    ids: list[str] = []
    try:
        for _ in range(report.plan.alive_processes):
            ids.append(bundle.run(["/bin/sleep", "60"], detach=True))
        rss = [_rss(bundle.pid(c)) for c in ids]
        report.memory.append(Row("container (runc, busybox sleep): init process", sum(rss) / len(rss), "B",
                                 f"{len(ids)} alive; runc itself exits after start (no daemon counted)"))
    except Exception as e:
        report.problems.append(f"container memory: {e}")
    finally:
        for c in ids:
            bundle.remove(c)


# -- memory ---------------------------------------------------------------------------------------------
def _rss(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def child_alive(kind: str, count: int) -> dict[str, float]:
    """In a fresh process: RSS growth while `count` instances of `kind` are alive at once."""
    import gc

    from wasmhive import Runtime

    rt = Runtime()
    if kind == "tiny":
        compiled = rt.load(tiny_module())
        first = rt.instantiate(compiled)
        make: Callable[[], Any] = lambda: rt.instantiate(compiled)  # noqa: E731
    else:
        compiled = rt.load(python_component())
        first = _component_instance(rt, compiled)
        _greet(*first)
        make = lambda: _component_instance(rt, compiled)  # noqa: E731
    gc.collect()
    before = _rss()
    alive = [make() for _ in range(count)]
    if kind == "tiny":
        assert all(i.exports.add(1, 1) == 2 for i in alive[:10])
    else:
        assert all(_greet(*i) == "hello, bench" for i in alive[:3])
    after = _rss()
    del first
    return {"per_instance": (after - before) / count, "count": count, "process_rss": after}


def measure_memory(report: Report, say: Callable[[str], None]) -> None:
    p = report.plan
    for kind, count, label in (("tiny", p.alive_instances, "wasmhive instance: tiny C module"),
                               ("component", p.alive_components, "wasmhive instance: Python component")):
        say(f"memory: {count} live {label.split(': ')[1]} instances")
        proc = subprocess.run([sys.executable, __file__, "--child-alive", kind, str(count)], capture_output=True,
                              text=True, timeout=900, check=False)
        if proc.returncode:
            report.memory.append(Row(label, None, "B", "failed"))
            report.problems.append(f"{label}: {proc.stderr.strip()[-300:]}")
            continue
        data = json.loads(proc.stdout)
        report.memory.append(Row(label, data["per_instance"], "B",
                                 f"{count} alive in one process (whole process: {_size(data['process_rss'])})"))
    for label, cmd in (("process: python3 (sleeping)", [sys.executable, "-c", "import time; print(1, flush=True); time.sleep(60)"]),
                       ("process: node (sleeping)", ["node", "-e", "console.log(1); setTimeout(() => {}, 60000)"])):
        if shutil.which(cmd[0]) is None:
            continue
        say(f"memory: {p.alive_processes} live {cmd[0]} processes")
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE) for _ in range(p.alive_processes)]
        try:
            for pr in procs:
                assert pr.stdout is not None
                pr.stdout.readline()
            rss = [_rss(pr.pid) for pr in procs]
            report.memory.append(Row(label, sum(rss) / len(rss), "B", f"{len(procs)} alive; RSS counts shared libraries"))
        finally:
            for pr in procs:
                pr.kill()
                pr.wait()


# -- sizes ----------------------------------------------------------------------------------------------
def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def measure_sizes(report: Report) -> None:
    import wasmtime

    from wasmhive import Runtime

    with Runtime() as rt:
        tiny = tiny_module()
        report.size.append(Row("tiny C module (.wasm)", tiny.stat().st_size, "B"))
        report.size.append(Row("tiny C module, compiled (cache entry)", len(rt.load(tiny).module.serialize()), "B"))
        compute = HERE / "compute.py"
        if compute.is_file():
            from wasmhive.app.toolchains import zig_cc

            srcs = [HERE / "compute" / "c" / f for f in ("alloc.c", "matmul.c", "sha256.c", "aes.c", "png.c")]
            wasm = zig_cc(srcs, target="wasm32-wasi", flags=("-O3", "-nostdlib", "-Wl,--no-entry", "-s"), simd=True)
            report.size.append(Row("compute workloads, SIMD (.wasm)", wasm.stat().st_size, "B"))
        try:
            comp = python_component()
            report.size.append(Row("Python component, componentize-py (.wasm)", comp.stat().st_size, "B",
                                   "includes CPython and its stdlib"))
            compiled = rt.load(comp)
            report.size.append(Row("Python component, compiled (cache entry)",
                                   len(compiled.component.serialize()), "B"))
        except Exception as e:
            report.problems.append(f"Python component size: {e}")
    del wasmtime
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sys.base_prefix) / "lib" / f"python{ver}"
    if stdlib.is_dir():
        # The interpreter and its standard library, without third-party site-packages.
        skip = {"site-packages", "test", "tests", "idlelib", "__pycache__"}
        size = sum(f.stat().st_size for f in stdlib.rglob("*")
                   if f.is_file() and not f.is_symlink() and not skip.intersection(f.parts))
        exe = Path(sys.base_prefix) / "bin" / f"python{ver}"
        libpy = Path(sys.base_prefix) / "lib" / f"libpython{ver}.so.1.0"
        size += sum(p.stat().st_size for p in (exe, libpy) if p.is_file())
        report.size.append(Row(f"Python {ver} install (stdlib + interpreter)", size, "B",
                               "without tests, idlelib, bytecode caches, site-packages"))
    node = shutil.which("node")
    if node:
        report.size.append(Row("Node.js binary", Path(node).resolve().stat().st_size, "B"))


# -- the run --------------------------------------------------------------------------------------------
def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> Report:
    """Measure everything; returns the report (see `Report.tables`)."""
    say = progress or (lambda _m: None)
    report = Report("quick" if quick else "full", QUICK if quick else FULL)
    measure_instances(report, say)
    measure_processes(report, say)
    with tempfile.TemporaryDirectory(prefix="wasmhive-iso-") as tmp:
        measure_containers(report, Path(tmp), say)
    measure_memory(report, say)
    say("sizes")
    measure_sizes(report)
    return report


CHART_LABELS = {
    "wasmhive instance: tiny C module (instantiate + call)": "Wasm\ntiny C",
    "wasmhive instance: tiny C module, pooling allocator": "Wasm\ntiny C, pool",
    "wasmhive instance: Python component (instantiate + call)": "Wasm\nPython comp.",
    "process: python3 -c pass": "process\npython3",
    "process: python3 -S -c pass (no site)": "process\npython3 -S",
    "process: node -e 0": "process\nnode",
    "container: runc run (busybox /bin/true)": "container\nrunc",
}


def save(report: Report) -> list[Path]:
    """Record a full run: the `isolation` section of RESULTS.md and `isolation.png`."""
    from _results import RESULTS, bar_chart, update_section

    parts = []
    for title, header, rows in report.tables():
        parts.append(f"**{title}**\n")
        parts.append("| " + " | ".join(header) + " |\n|" + "|".join(" --- " for _ in header) + "|")
        parts += ["| " + " | ".join(r) + " |" for r in rows]
        parts.append("")
    if report.problems:
        parts += ["Problems:", *(f"- {p}" for p in report.problems), ""]
    parts.append("![isolation](isolation.png)")
    update_section("isolation", "\n".join(parts))
    starts = [r for r in report.start if r.value and r.what in CHART_LABELS]
    chart = bar_chart(RESULTS.parent / "isolation.png", "Start time (median, s, log scale; lower is better)",
                      [CHART_LABELS[r.what] for r in starts], {"start": [r.value for r in starts]}, "seconds")
    return [RESULTS, *([chart] if chart else [])]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save", action="store_true", help="record a full run in benchmarks/RESULTS.md (and its charts)")
    ap.add_argument("--child-alive", nargs=2, metavar=("KIND", "COUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_alive:
        print(json.dumps(child_alive(args.child_alive[0], int(args.child_alive[1]))))
        return 0
    report = run(args.quick, progress=lambda m: print(f"  .. {m}", file=sys.stderr, flush=True))
    for title, header, rows in report.tables():
        print(f"\n{title}\n" + "\n".join(" | ".join(r) for r in [header, *rows]))
    for p in report.problems:
        print(f"problem: {p}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2))
    if args.save and not args.quick:
        save(report)
    return 0 if report.all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
