"""Fuzz every parser of untrusted input: runs each `fuzz`-marked test (tests/security/) with the long
hypothesis profile (`WASMHIVE_FUZZ=long`), then prints one table: parser x examples x failures.

The CI runs the same tests with a short derandomized budget on every change; this is the long, random
run by hand. A failure prints hypothesis's shrunk, falsifying example above the table (rerun the test
with that input to debug; the suite keeps no example database on purpose).

    python benchmarks/fuzz.py [--examples N] [-k EXPR] [--quick] [--json out.json]

`--examples` is the budget per fuzzer (default 20000; `WASMHIVE_FUZZ_EXAMPLES`); `--quick` runs the CI
profile with 20 examples each (proves this script works); `-k` selects fuzzers like pytest's -k.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from _harness import table  # noqa: E402

# "- 3000 passing, 0 failing, and 12 invalid test cases" (one line per hypothesis phase)
_COUNTS = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid")
_TEST = re.compile(r"^(tests/\S+::\S+):\s*$")


@dataclass
class Row:
    """One fuzzer's run."""

    parser: str
    examples: int
    failing: int
    outcome: str
    seconds: float


def _statistics(output: str) -> dict[str, tuple[int, int]]:
    """(examples, failing examples) per test id, summed over hypothesis's phases."""
    stats: dict[str, tuple[int, int]] = {}
    current = None
    for line in output.splitlines():
        m = _TEST.match(line.strip())
        if m:
            current = m.group(1)
            stats.setdefault(current, (0, 0))
            continue
        c = _COUNTS.search(line)
        if c and current is not None:
            passing, failing, invalid = map(int, c.groups())
            examples, bad = stats[current]
            stats[current] = (examples + passing + failing + invalid, bad + failing)
    return stats


def _outcomes(junit: Path) -> dict[str, tuple[str, float]]:
    """(outcome, seconds) per test id from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        test_id = f"{path}::{case.get('name')}"
        outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else \
            "skipped" if case.find("skipped") is not None else "passed"
        out[test_id] = (outcome, float(case.get("time", 0)))
    return out


def run(examples: int | None, select: str | None, quick: bool) -> tuple[list[Row], str, int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    if quick:
        env.pop("WASMHIVE_FUZZ", None)
        env["WASMHIVE_FUZZ_EXAMPLES"] = "20"
    else:
        env["WASMHIVE_FUZZ"] = "long"
        if examples is not None:
            env["WASMHIVE_FUZZ_EXAMPLES"] = str(examples)
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "fuzz.xml"
        cmd = [sys.executable, "-m", "pytest", "tests/security", "-m", "fuzz", "-q", "-p", "no:cacheprovider",
               "--hypothesis-show-statistics", f"--junitxml={junit}", "-o", "junit_family=xunit1"]
        if select:
            cmd += ["-k", select]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        outcomes = _outcomes(junit) if junit.exists() else {}
    stats = _statistics(proc.stdout)
    rows = []
    for test_id, (outcome, seconds) in sorted(outcomes.items()):
        n, bad = stats.get(test_id, (0, 0))
        name = test_id.split("::")[-1].removeprefix("test_fuzz_").removeprefix("test_")
        rows.append(Row(name, n, bad, outcome, seconds))
    return rows, proc.stdout + proc.stderr, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=None, help="examples per fuzzer (default 20000)")
    parser.add_argument("-k", dest="select", default=None, help="only fuzzers matching this pytest -k expression")
    parser.add_argument("--quick", action="store_true", help="20 examples each (proves the script works)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows, output, code = run(args.examples, args.select, args.quick)
    if code not in (0, 5) or any(r.outcome == "failed" for r in rows):
        # The falsifying examples and tracebacks, as pytest printed them.
        print(output[-20000:])
    if not rows:
        print(output[-5000:])
        print("no fuzz tests ran")
        return 1
    body = [[r.parser, str(r.examples), str(r.failing), r.outcome, f"{r.seconds:.1f}"] for r in rows]
    total = sum(r.examples for r in rows)
    body.append(["total", str(total), str(sum(r.failing for r in rows)),
                 f"{sum(r.outcome == 'failed' for r in rows)} failed", f"{time.perf_counter() - t0:.1f}"])
    budget = "quick (CI profile, 20 each)" if args.quick else f"long ({args.examples or 'profile'} examples each)"
    print(table(f"Fuzzers: {budget}", ["parser", "examples", "failing examples", "outcome", "seconds"], body))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0 if all(r.outcome != "failed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
