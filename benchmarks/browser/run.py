"""Run the browser page in headless Chromium on loopback and collect the table it reports.

    python benchmarks/browser/run.py [--quick] [--json out.json]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Flags from the toolchain notes: no sandbox (CI runs as root), no GPU, no background traffic.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
HEADER = ["workload", "JS", "JS lib (pako)", "Wasm scalar", "Wasm SIMD", "Wasm speed-up vs JS", "outputs"]


def chromium() -> str | None:
    """The Chromium executable, or None if it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _serve_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("wasmhive_bench_browser_serve", HERE / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(quick: bool = False, timeout: float = 900) -> dict[str, Any]:
    """Serve the page, open it in headless Chromium, return the report it posts (rows, results, userAgent)."""
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    server = _serve_module().make_server("127.0.0.1", 0, echo=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/" + ("?quick=1" if quick else "")
    with tempfile.TemporaryDirectory(prefix="wasmhive-chromium-") as profile:
        browser = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", url],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not server.got_results.wait(timeout):
                raise TimeoutError(f"the page did not report within {timeout:g} s")
        finally:
            browser.terminate()
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()
            server.shutdown()
            server.server_close()
    report = server.results or {}
    if "error" in report:
        raise RuntimeError(f"the page failed: {report['error']}")
    report["all_ok"] = all(r.get("ok") for r in report.get("results", []))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in report.get("rows", [])]
    return f"Browser: {report.get('userAgent', '?')}\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    report = run(args.quick)
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
