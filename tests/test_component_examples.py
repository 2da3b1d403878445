"""The cross-language proof: the docs:math calculator in C, Python and JavaScript gives identical results
from Python and from the CLI; plus `wasmhive wit` and `wasmhive bindgen` (stubs checked with mypy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wasmhive import Runtime
from wasmhive.cli import main
from wasmhive.component import ResultError

pytest_plugins = ["components.fixtures"]


@pytest.fixture(autouse=True)
def _session_compile_cache(compile_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CLI commands build their own Runtime: point its compile cache at the session's.
    monkeypatch.setenv("WASMHIVE_CACHE", str(compile_cache))

# (function, interface, args, expected result): one table for every provider.
CALLS: list[tuple[str, str | None, tuple[Any, ...], Any]] = [
    ("add", None, (3, 4), 7),
    ("add", None, (2**32 - 1, 1), 0),
    ("greet", "ops", ("Ada",), "Hello, Ada!"),
    ("greet", "ops", ("wörld 🦀",), "Hello, wörld 🦀!"),
    ("stats", "ops", ([3, -1, 10],), {"count": 3, "min": -1, "max": 10, "mean": 4.0}),
    ("stats", "ops", ([],), {"count": 0, "min": 0, "max": 0, "mean": 0.0}),
    ("divide", "ops", (7, -2), -3),
    ("divide", "ops", (-7, 2), -3),
]


def _python_results(rt: Runtime, wasm: Path) -> list[Any]:
    calc = rt.component(wasm)
    out: list[Any] = []
    for func, iface, args, _ in CALLS:
        ns = calc.exports if iface is None else calc.exports[iface] if ":" in iface else getattr(calc.exports, iface)
        result = getattr(ns, func)(*args)
        out.append(result._asdict() if hasattr(result, "_asdict") else result)
    with pytest.raises(ResultError) as e:
        calc.exports.ops.divide(1, 0)
    out.append({"err": e.value.value})
    return out


EXPECTED = [c[3] for c in CALLS] + [{"err": "division by zero"}]


def test_python_api_gives_identical_results(crt: Runtime, math_provider: tuple[str, Path]) -> None:
    lang, wasm = math_provider
    assert _python_results(crt, wasm) == EXPECTED, lang


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_gives_identical_results(math_provider: tuple[str, Path]) -> None:
    lang, wasm = math_provider
    for func, iface, args, expected in CALLS:
        words = [json.dumps(a) if isinstance(a, list) else str(a) for a in args]
        code, out = _cli("call", str(wasm), func, *words, *(["--instance", iface] if iface else []))
        assert code == 0, (lang, func, out)
        assert json.loads(out) == expected, (lang, func)
    code, out = _cli("call", str(wasm), "divide", "1", "0", "-i", "docs:math/ops")
    assert code == 1
    assert json.loads(out) == {"err": "division by zero"}


def test_cli_argument_errors(math_c: Path) -> None:
    code, out = _cli("call", str(math_c), "add", "x", "1")
    assert code == 64
    assert "argument a (u32): not an integer: 'x'" in out
    code, out = _cli("call", str(math_c), "add", "-1", "1")
    assert code == 64
    assert "out of range for u32" in out
    code, out = _cli("call", str(math_c), "add", "1")
    assert code == 64
    assert "add takes 2 argument(s) (a: u32, b: u32), got 1" in out
    code, out = _cli("call", str(math_c), "nope")
    assert code == 64
    assert "exports no function 'nope'" in out
    code, out = _cli("call", str(math_c), "stats", "[1, 2", "-i", "ops")
    assert code == 64
    assert "expected JSON for list<s32>" in out


def test_cli_wit(math_c: Path) -> None:
    code, out = _cli("wit", str(math_c))
    assert code == 0
    assert "export add: func(a: u32, b: u32) -> u32;" in out
    assert "divide: func(a: s32, b: s32) -> result<s32, string>;" in out
    code, out = _cli("wit", "--json", str(math_c))
    assert code == 0
    names = [e["name"] for e in json.loads(out)["exports"]]
    assert names == ["add", "docs:math/ops"]


def test_bindgen_stubs_type_check(math_c: Path, tmp_path: Path, guest_cache: Path) -> None:
    code, out = _cli("bindgen", str(math_c), "-o", str(tmp_path / "calc"))
    assert code == 0, out
    (tmp_path / "good.py").write_text(
        "from wasmhive import Runtime\nfrom calc import load\n\n"
        "calc = load(Runtime(cache=False))\n"
        "total: int = calc.exports.add(3, 4)\n"
        "hello: str = calc.exports.ops.greet(name='Ada')\n"
        "mean: float = calc.exports.docs_math_ops.stats([1, 2]).mean\n"
        "assert (total, hello, mean) == (7, 'Hello, Ada!', 1.5)\n")
    (tmp_path / "bad.py").write_text(
        "from wasmhive import Runtime\nfrom calc import load\n\n"
        "calc = load(Runtime(cache=False))\n"
        "wrong: str = calc.exports.add(3, 4)\n"
        "calc.exports.add('x', 4)\n"
        "calc.exports.ops.nope()\n")
    # mypy's cache is shared across sessions (it would re-analyse wasmhive itself every time).
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(guest_cache / "mypy")]
    good = subprocess.run([*mypy, "good.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run([*mypy, "bad.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert 'bad.py:5: error: Incompatible types in assignment (expression has type "int"' in bad.stdout
    assert 'bad.py:6: error: Argument 1 to "add"' in bad.stdout
    assert 'bad.py:7: error: "DocsMathOps" has no attribute "nope"' in bad.stdout
    # The generated module works at run time too.
    run = subprocess.run([sys.executable, "good.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


def test_benchmark_quick_mode_runs() -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "component_calls.py"), "--quick"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "| add(u32, u32) -> u32 |" in proc.stdout
    assert "worst ratio" in proc.stdout
    # The host-call rows measure three paths (stock add_func, typed imports, `_hostcall.define_func` as the WASI layer uses it).
    assert "define_func (µs)" in proc.stdout
    for case in ("host import (u32) -> u32, per call", "host import (list<u8> x 4 KiB) -> u32, per call"):
        row = next(line for line in proc.stdout.splitlines() if line.startswith(f"| {case} |"))
        assert "| - |" not in row, row


def test_cli_stub_imports(kitchen_wasm: Path) -> None:
    code, out = _cli("call", str(kitchen_wasm), "echo-u8", "5")
    assert code == 65
    assert "no provider for imports test:kitchen/sink" in out
    code, out = _cli("call", str(kitchen_wasm), "echo-point", '{"x": 1, "y": 2}', "--stub-imports")
    assert (code, json.loads(out)) == (0, {"x": 1, "y": 2})
    code, out = _cli("call", str(kitchen_wasm), "log-twice", "hi", "--stub-imports")
    assert code == 134
    assert "import test:kitchen/sink.log is not provided" in out


def test_bindgen_provider_protocols_for_imports(kitchen_wasm: Path, tmp_path: Path, guest_cache: Path) -> None:
    code, out = _cli("bindgen", str(kitchen_wasm), "-o", str(tmp_path / "kitchen"), "--name", "kitchen")
    assert code == 0, out
    (tmp_path / "prov.py").write_text(
        "from typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n    from kitchen import TestKitchenOpsProvider, TestKitchenSinkProvider\n\n\n"
        "class Ops:\n"
        "    def greet(self, name: str) -> str:\n        return name\n\n"
        "    def stats(self, values: list[int]) -> dict[str, int]:\n        return {}\n\n"
        "    def divide(self, a: int, b: int) -> int:\n        return a\n\n\n"
        "class BadSink:\n"
        "    def log(self, level: int, msg: str) -> None:\n        pass\n\n\n"
        "ok: 'TestKitchenOpsProvider' = Ops()\n"
        "bad: 'TestKitchenSinkProvider' = BadSink()\n")
    mypy = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(guest_cache / "mypy"), "prov.py"]
    proc = subprocess.run(mypy, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout
    errors = [ln for ln in proc.stdout.splitlines() if ": error:" in ln]
    assert len(errors) == 1 and "BadSink" in errors[0], proc.stdout  # only the bad sink
