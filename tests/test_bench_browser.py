"""The browser page: headless Chromium runs the JS and Wasm versions side by side and reports its table."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags from the toolchain notes: no sandbox (we run as root in CI), no GPU, no background traffic.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def _serve_module():
    path = ROOT / "benchmarks" / "browser" / "serve.py"
    spec = importlib.util.spec_from_file_location("wasmhive_bench_browser_serve", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_headless_chromium_reports_matching_table(tmp_path: Path) -> None:
    server = _serve_module().make_server("127.0.0.1", 0, echo=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/?quick=1"
    browser = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert server.got_results.wait(180), "the page never posted its results"
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()
        server.shutdown()
        server.server_close()
    report = server.results
    assert report is not None and "error" not in report, report
    assert report["quick"] is True and report["simd"] is True
    rows = {r[0].split()[0]: r for r in report["rows"]}
    assert set(rows) == {"matmul", "PNG", "AES-256-CTR", "SHA-256"}
    for row in rows.values():
        assert row[-1] == "match", row
        assert row[1].endswith("ms") and row[3].endswith("ms") and row[4].endswith("ms"), row
    assert rows["PNG"][2].endswith("ms"), "pako column missing"
    assert all(r["ok"] for r in report["results"])
    print(sys.version, report["userAgent"])
