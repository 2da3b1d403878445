"""`benchmarks/fuzz.py` works: one command runs the fuzz-marked tests and prints parser x examples x
failures (here in its quick mode, on one fuzzer, so CI proves the script without the long budget)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


def test_fuzz_script_prints_its_table() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--quick", "-k", "parse_word"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")]
    assert [c.strip() for c in rows[0].strip("|").split("|")] == ["parser", "examples", "failing examples",
                                                                  "outcome", "seconds"]
    parse_word = next(r for r in rows if r.startswith("| parse_word "))
    cells = [c.strip() for c in parse_word.strip("|").split("|")]
    assert int(cells[1]) >= 20 and cells[2] == "0" and cells[3] == "passed"
