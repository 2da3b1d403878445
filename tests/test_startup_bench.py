"""`benchmarks/startup.py --quick` works (it measures; nothing here asserts speed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "startup.py"


def test_startup_benchmark_quick_mode() -> None:
    spec = importlib.util.spec_from_file_location("wasmhive_bench_startup_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    rows = module.run(quick=True, with_component=False)
    names = [r.name for r in rows]
    assert any(n.startswith("core module `_start`") for n in names)
    assert "python3 -c pass" in names
    assert all(r.median_s > 0 for r in rows if r.runs)
    text = module.render(rows, quick=True)
    assert "python3 -c pass ÷ core module in-process" in text
