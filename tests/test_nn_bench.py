"""benchmarks/nn.py in quick mode: it runs, and the three paths agree on every image's label."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nn_fixtures import nn_guests

__all__ = ["nn_guests"]

pytest.importorskip("onnxruntime")
BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "nn.py"


def test_quick_benchmark_runs_and_every_path_agrees(nn_guests: tuple[Path, Path, Path], guest_cache: Path) -> None:
    spec = importlib.util.spec_from_file_location("nn_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.run(quick=True, cache_dir=guest_cache)
    assert report["labels_agree"] is True
    assert set(report["us_per_inference"]) == {"onnxruntime direct", "guest → wasi-nn", "guest, pure Python",
                                               "HTTP /classify"}
    assert all(v > 0 for v in report["us_per_inference"].values())
    assert "| guest → wasi-nn |" in bench.table(report)
