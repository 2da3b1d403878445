"""benchmarks/tee.py runs and prints every line it promises (never its speed): `--quick`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tee_fixtures import tee_probe

__all__ = ["tee_probe"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_tee_benchmark_quick(tee_probe: Path) -> None:  # the fixture builds the C guest into the cache
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tee.py"), "--quick"], capture_output=True,
                          text=True, timeout=600, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    rows = [ln.split() for ln in lines if re.match(r"\s*\d+Ki\s", ln)]
    assert [r[0] for r in rows] == ["1Ki", "64Ki", "1024Ki"]
    assert all(float(x) > 0 for r in rows for x in r[1:])
    assert any(ln.startswith("C guest (wasmhive_tee.seal") for ln in lines)
    assert re.search(r"attestation: make evidence \d+ us/call, verify \d+ us/call", proc.stdout)
