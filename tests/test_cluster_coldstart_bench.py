"""`benchmarks/coldstart.py` runs and measures what it says (never its speed): a quick run on the tiny guest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_coldstart_quick_measures_every_phase(tmp_path: Path) -> None:
    out = tmp_path / "coldstart.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "coldstart.py"), "--quick", "--only", "tiny",
                        "--json", str(out)], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert list(data) == ["tiny WAT"]
    res = data["tiny WAT"]
    # One round: one start of each kind, one unload cycle whose re-preparation the node itself logged.
    assert {k: len(v) for k, v in res.items()} == {"first_start_compile": 1, "first_start_cached": 1,
                                                   "warm_request": 1, "after_unload_request": 1,
                                                   "after_unload_prepare": 1}
    assert all(x > 0 for v in res.values() for x in v)
    # The request after the unload includes its re-preparation; a start includes the process start-up.
    assert res["after_unload_request"][0] > res["after_unload_prepare"][0]
    assert res["first_start_cached"][0] > res["warm_request"][0]
    assert "first request after idle unload" in r.stdout
