"""A script in benchmarks/ runs with benchmarks/ as sys.path[0]: a module there named like a standard-library
module (`http.py` once was) breaks every import of that stdlib module in the script, e.g. urllib."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def test_no_benchmark_module_shadows_the_standard_library() -> None:
    names = {p.stem for p in BENCH.glob("*.py")} | {p.name for p in BENCH.iterdir() if (p / "__init__.py").is_file()}
    assert sorted(names & set(sys.stdlib_module_names)) == []
