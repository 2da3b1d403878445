"""The CLI's first hour: start-up imports, usage errors, bindgen output, benchmark tables (issue 10).

Start-up is checked by what a fresh interpreter imports (`sys.modules`), never by a time limit; the
times are measured in `benchmarks/startup.py`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import io
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

import wasmhive
from wasmhive.cli import COMMANDS, main

WASMHIVE = str(Path(sys.executable).parent / "wasmhive")
ROOT = Path(__file__).resolve().parent.parent

# A component in text form: `add(a: u32, b: u32) -> u32`, lifted from a core function.
CALC_WAT = """(component
  (core module $m (func (export "f") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $i (instantiate $m))
  (func (export "add") (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "f"))))
"""


def _cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WASMHIVE, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, check=False)


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code` (SystemExit ignored)."""
    probe = f"import sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\nprint(repr(sorted(sys.modules)), file=sys.stderr)\n"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=True)
    names: list[str] = eval(proc.stderr.strip().splitlines()[-1])  # our own repr() of a list of strings
    return set(names)


def test_import_wasmhive_loads_neither_the_app_layer_nor_wasmtime() -> None:
    loaded = _modules_after("import wasmhive")
    for heavy in ("wasmhive.app", "wasmhive.http", "wasmhive.runtime", "wasmtime", "rich"):
        assert heavy not in loaded, heavy


def test_public_names_still_import_on_use() -> None:
    loaded = _modules_after("from wasmhive import Runtime, App, GuestTrap")
    assert {"wasmhive.runtime", "wasmhive.app", "wasmhive.errors"} <= loaded
    assert wasmhive.Runtime.__name__ == "Runtime"
    assert "Runtime" in dir(wasmhive)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = wasmhive.Nope  # type: ignore[attr-defined]


def test_help_imports_no_command_module_wasmtime_or_rich() -> None:
    loaded = _modules_after("from wasmhive.cli import main; sys.argv = ['wasmhive', '--help']; main()")
    assert "wasmtime" not in loaded
    assert "rich" not in loaded
    assert not [m for m in loaded if m.startswith("wasmhive.cli._") and m != "wasmhive.cli._common"]


def test_a_run_that_exits_normally_does_not_import_rich() -> None:
    tiny = ROOT / "tests" / "guests" / "tiny.wat"
    loaded = _modules_after(f"from wasmhive.cli import main; sys.argv = ['wasmhive', 'run', {str(tiny)!r}]; main()")
    assert "wasmhive.cli._run" in loaded and "wasmtime" in loaded  # it did run
    assert "rich" not in loaded


def test_help_lists_every_command() -> None:
    proc = _cli("--help")
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.split("Commands:", 1)[1]
    for name, (_module, summary) in COMMANDS.items():
        assert f"{name} " in listed and summary in listed, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_registered_by_its_module(name: str) -> None:
    module, _summary = COMMANDS[name]
    importlib.import_module(f"wasmhive.cli._{module}")
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name
    assert command.help, f"`wasmhive {name}` has no help text"


def test_version_is_the_installed_distributions() -> None:
    assert wasmhive.__version__ == importlib.metadata.version("wasmhive")
    proc = _cli("--version")
    assert proc.returncode == 0 and proc.stdout.split()[-1] == wasmhive.__version__


@pytest.mark.parametrize("args", [
    ["--bogus"],
    ["run", "--bogus", "x.wat"],           # before FILE: an option, not a file name
    ["inspect", "--bogus", "x.wat"],
    ["call", "--bogus", "x.wasm", "add"],  # call keeps unknown dashed words (negative numbers) as arguments
    ["contract", "call"],                  # a missing argument in a nested command
    ["bench", "compute", "--bogus"],
    ["no-such-command"],
])
def test_usage_errors_exit_64(args: list[str], tmp_path: Path) -> None:
    proc = _cli(*args, cwd=tmp_path)
    assert proc.returncode == 64, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "Error:" in proc.stderr and "no such file" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_help_still_works_and_guest_args_after_file_are_the_guests(tmp_path: Path) -> None:
    assert _cli("--help").returncode == 0
    assert _cli("run", "--help").returncode == 0
    # After FILE everything belongs to the guest, even what looks like an option.
    proc = _cli("run", str(ROOT / "examples" / "hello" / "hello.wat"), "--bogus", "-x", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello from a wasmhive sandbox!\n"


def test_bindgen_output_names_no_absolute_path(tmp_path: Path) -> None:
    src = tmp_path / "a" / "comp" / "calc.wat"
    src.parent.mkdir(parents=True)
    src.write_text(CALC_WAT)
    out = tmp_path / "a" / "pkg" / "calc"
    proc = _cli("bindgen", str(src), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["__init__.py", "__init__.pyi", "py.typed"]
    for f in files:
        text = f.read_text()
        assert str(tmp_path) not in text and str(Path.home()) not in text, (f.name, text)
    # The default source is found relative to the package: moving both together keeps `load()` working.
    (tmp_path / "a").rename(tmp_path / "b")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from calc import load; import wasmhive\n"
            "with wasmhive.Runtime(cache=False) as rt:\n    print(load(rt).exports.add(3, 4))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "b" / "pkg")], capture_output=True,
                         text=True, timeout=120, cwd="/", check=False)
    assert (run.returncode, run.stdout.strip()) == (0, "7"), run.stderr


def test_bench_table_is_not_cut_at_80_columns_and_has_the_legend(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from wasmhive.cli import _bench

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        compute = _bench.load("compute")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert compute is not None
    # Cells formatted by the compute benchmark itself: one exact, one scaled from a smaller input.
    exact = compute.Result("matmul", "wasm-simd", times=[0.0123], ok=True)
    scaled = compute.Result("matmul", "python", times=[1.5], ok=True, scale=512.0)
    header = ["workload", *compute.IMPL_LABELS.values(), "Wasm speed-up vs JS", "Wasm / native"]
    row = ["matmul 1024x1024 f32", *([compute._cell(exact)] * (len(header) - 4)), compute._cell(scaled),
           "3.1x", "1.25x"]
    out = io.StringIO()
    monkeypatch.setattr(_bench, "console", Console(file=out, width=80, highlight=False, no_color=True))
    _bench._table("compute (quick)", header, [row])
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) > 80  # the table kept its natural width
    for cell in [*header, *row]:
        assert cell in text, f"{cell!r} was cut or wrapped"
    assert "…" not in text
    assert _bench.SCALED_LEGEND in text
    assert compute._cell(scaled).endswith(" *")


def test_bench_writes_results_only_with_save() -> None:
    proc = _cli("bench", "compute", "--help")
    assert proc.returncode == 0
    assert "--save" in proc.stdout and "--no-save" not in proc.stdout
    for script in ("compute", "isolation", "component_calls"):
        help_text = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--help"],
                                   capture_output=True, text=True, timeout=120, check=True).stdout
        assert "--save" in help_text, script


def test_new_hints_the_command_that_works_here(tmp_path: Path) -> None:
    bare_path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                if Path(p, "wasmhive").resolve() != Path(WASMHIVE).resolve())
    activated = f"{Path(WASMHIVE).parent}{os.pathsep}{bare_path}"
    for name, path, expected in (("one", bare_path, f"cd one && {WASMHIVE} build --up"),
                                 ("two", activated, "cd two && wasmhive build --up")):
        proc = _cli("new", "http-wat", name, cwd=tmp_path, env={"PATH": path})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == f"next:  {expected}"
