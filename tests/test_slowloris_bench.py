"""`benchmarks/slowloris.py --quick` works (it measures; nothing here asserts speed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest_plugins = ("http_fixtures",)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "slowloris.py"


@pytest.mark.slow
def test_slowloris_soak_quick_mode(http_guest: Path, compile_cache: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("wasmhive_bench_slowloris_quick", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    monkeypatch.setenv("WASMHIVE_CACHE", str(compile_cache))
    assert module.main(["--quick", "--attack", "body", "--guest", str(http_guest)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("(idle)", "body"))}
    assert set(rows) == {"(idle)", "body"}
    requests, failed, held = rows["body"][:3]
    assert int(requests) > 0 and int(failed) == 0 and int(held) == 20
