"""`wasmhive bench`: the benchmark suite (compute, startup/isolation, http) and the browser page.

The benchmarks live in the source checkout's `benchmarks/` directory (they need Node.js, gcc and the
guest toolchains, which an installed wheel does not carry): this command loads them from there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from ..errors import ConfigError
from ._common import console, err_console, fail

_LOADED: dict[str, ModuleType] = {}


def benchmarks_dir() -> Path:
    """`$WASMHIVE_BENCHMARKS`, else the checkout's `benchmarks/` (beside `src/`), else `./benchmarks`."""
    env = os.environ.get("WASMHIVE_BENCHMARKS")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[3] / "benchmarks", Path.cwd() / "benchmarks"]
    for c in candidates:
        if (c / "compute.py").is_file():
            return c
    raise ConfigError("the benchmark suite (benchmarks/compute.py) was not found: run from a wasmhive source "
                      "checkout or set WASMHIVE_BENCHMARKS")


def load(name: str) -> ModuleType | None:
    """Import `benchmarks/NAME.py` under a private name (never a top-level module name that could shadow the stdlib)."""
    if name in _LOADED:
        return _LOADED[name]
    path = benchmarks_dir() / f"{name}.py"
    if not path.is_file():
        return None
    bench = str(path.parent)
    if bench not in sys.path:
        sys.path.append(bench)
    spec = importlib.util.spec_from_file_location(f"wasmhive_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    _LOADED[name] = module
    return module


def _progress_run(title: str, fn: Callable[[Callable[[str], None]], Any]) -> Any:
    """Run `fn(progress)` under a rich progress bar whose text follows the benchmark's steps."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[title]}[/]"), BarColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("starting", total=None, title=title)
        return fn(lambda msg: bar.update(task, description=msg))


# Cells that end in " *" (compute's pure-Python column) were not timed on the full input.
SCALED_LEGEND = "* measured on a smaller input; the time is scaled to the full size"


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a results table at its natural width, never cut to the terminal's (or a pipe's 80 columns)."""
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    # A number cut to "1.2…" or folded over two lines is worse than a line the terminal wraps.
    natural = Measurement.get(console, console.options.update(width=10_000), table).maximum
    out = console if natural <= console.width else Console(file=console.file, width=natural, highlight=False,
                                                           no_color=console.no_color)
    out.print(table)
    if any(cell.endswith(" *") for r in rows for cell in r):
        out.print(SCALED_LEGEND, markup=False)


def run_compute(quick: bool, save: bool) -> dict[str, Any]:
    compute = load("compute")
    assert compute is not None
    report = _progress_run("compute", lambda p: compute.run(quick, progress=p))
    _table(f"compute ({report.mode})", report.header(), report.rows())
    for r in report.results:
        if r.note.startswith(("missing", "wrong")):
            err_console.print(f"  {r.workload} / {r.impl}: {r.note}", markup=False)
    if save and not quick:
        for p in compute.save(report):
            console.print(f"wrote {p}", markup=False)
    result: dict[str, Any] = report.to_json()
    return result


def run_startup(quick: bool, save: bool) -> dict[str, Any]:
    """`startup.py` (in-process start vs whole processes), then `isolation.py` (containers, memory, sizes)."""
    from dataclasses import asdict

    data: dict[str, Any] = {}
    startup = load("startup")
    if startup is not None:
        # --quick skips startup.py's component rows (a `wasmtime compile` of 18 MB each time);
        # isolation.py below still starts the componentize-py component in-process.
        rows = _progress_run("startup", lambda p: startup.run(quick, progress=p, with_component=not quick))
        text = startup.render(rows, quick)
        console.print(text, markup=False, highlight=False)
        data["startup"] = [asdict(r) for r in rows]
        if save and not quick:
            load("_results").update_section("startup", text)  # type: ignore[union-attr]
    isolation = load("isolation")
    if isolation is None:
        raise ConfigError("benchmarks/isolation.py is missing")
    report = _progress_run("isolation", lambda p: isolation.run(quick, progress=p))
    for title, header, rows in report.tables():
        _table(title, header, rows)
    for problem in report.problems:
        err_console.print(f"  problem: {problem}", markup=False)
    if save and not quick:
        for p in isolation.save(report):
            console.print(f"wrote {p}", markup=False)
    data.update(report.to_json())
    return data


def run_http(quick: bool, save: bool) -> dict[str, Any]:
    http = load("http_serve")
    if http is None:
        err_console.print("[yellow]http:[/] benchmarks/http_serve.py is not in this checkout (the HTTP benchmark is "
                          "written with the HTTP trigger); nothing measured.")
        return {"missing": "benchmarks/http_serve.py not present"}
    argv = ["--quick"] if quick else ["--save"] if save else []
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"wasmhive-bench-http-{os.getpid()}.json"
    code = http.main([*argv, "--json", str(out)])
    data: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    out.unlink(missing_ok=True)
    if code:
        data["exit_code"] = code
    return data


def run_browser(quick: bool, save: bool) -> dict[str, Any]:
    """The browser page in headless Chromium (skipped, with the reason, when Chromium is not installed)."""
    runner = _load_file("browser_run", benchmarks_dir() / "browser" / "run.py")
    if runner.chromium() is None:
        err_console.print("[yellow]browser:[/] chromium is not installed (apt-get install chromium); skipped.")
        return {"missing": "chromium not installed"}
    report: dict[str, Any] = _progress_run("browser", lambda _p: runner.run(quick))
    _table(f"browser ({'quick' if quick else 'full'}): {report.get('userAgent', '')}", runner.HEADER,
           report.get("rows", []))
    if save and not quick:
        load("_results").update_section("browser", runner.markdown(report))  # type: ignore[union-attr]
    return report


SUITES: dict[str, Callable[[bool, bool], dict[str, Any]]] = {
    "compute": run_compute, "startup": run_startup, "http": run_http, "browser": run_browser,
}


def _ok(name: str, data: dict[str, Any]) -> bool:
    if name == "http":
        return not data.get("exit_code")
    if "missing" in data:
        return True
    return bool(data.get("all_ok", True))


@click.group(invoke_without_command=True)
@click.option("--serve", is_flag=True, help="Serve the browser page (JS vs Wasm side by side) and wait.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for --serve.")
@click.option("--port", default=8377, show_default=True, help="Port for --serve (0 = any free port).")
@click.pass_context
def bench(ctx: click.Context, serve: bool, host: str, port: int) -> None:
    """Benchmarks: compute (Wasm vs JS vs native vs Python), startup/isolation, http, browser.

    \b
      wasmhive bench compute --quick     a CI-sized run (under a minute), outputs checked
      wasmhive bench all --save          the full suite; records benchmarks/RESULTS.md
      wasmhive bench --serve             the browser page at http://127.0.0.1:8377/
    """
    if serve:
        _serve(host, port)
        return
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())


def _serve(host: str, port: int) -> None:
    load("compute")
    server_mod = _load_file("browser_serve", benchmarks_dir() / "browser" / "serve.py")
    server = server_mod.make_server(host, port)
    url = f"http://{host}:{server.server_address[1]}/"
    console.print(f"serving the browser benchmark at {url} (Ctrl-C to stop)", markup=False)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _load_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"wasmhive_bench_{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ConfigError(f"{path} is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _suite_command(name: str) -> None:
    text = ("Run every benchmark (compute, startup, http, browser)." if name == "all"
            else f"Run the {name} benchmark.")

    @bench.command(name=name, help=text)
    @click.option("--quick", is_flag=True, help="Small sizes for CI: checks outputs, not speed (< 1 minute).")
    @click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write results here.")
    @click.option("--save", is_flag=True,
                  help="Record a full run in benchmarks/RESULTS.md and its charts (nothing is written without it).")
    def command(quick: bool, json_out: Path | None, save: bool) -> None:
        names = list(SUITES) if name == "all" else [name]
        results = {n: SUITES[n](quick, save) for n in names}
        if json_out:
            json_out.write_text(json.dumps(results if name == "all" else results[name], indent=2))
        bad = [n for n, d in results.items() if not _ok(n, d)]
        if bad:
            fail(f"benchmark outputs did not check out: {', '.join(bad)}")


for _name in ("compute", "startup", "http", "browser", "all"):
    _suite_command(_name)
