"""The browser page: headless Chromium runs the JS and Wasm versions side by side and reports its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _runner():
    spec = importlib.util.spec_from_file_location("wasmhive_bench_browser_run", ROOT / "benchmarks" / "browser" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _runner()


@pytest.mark.slow
@pytest.mark.skipif(runner.chromium() is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_headless_chromium_reports_matching_table() -> None:
    report = runner.run(quick=True, timeout=180)
    assert report["quick"] is True and report["simd"] is True
    rows = {r[0].split()[0]: r for r in report["rows"]}
    assert set(rows) == {"matmul", "PNG", "AES-256-CTR", "SHA-256"}
    for row in rows.values():
        assert row[-1] == "match", row  # same SHA-256 for JS and Wasm; PNGs decoded by the browser
        assert row[1].endswith("ms") and row[3].endswith("ms") and row[4].endswith("ms"), row
    assert rows["PNG"][2].endswith("ms"), "pako column missing"
    assert report["all_ok"] is True
    assert "HeadlessChrome" in report["userAgent"]


def test_server_serves_only_its_routes() -> None:
    import http.client
    import threading

    spec = importlib.util.spec_from_file_location("wasmhive_bench_browser_serve", ROOT / "benchmarks" / "browser" / "serve.py")
    assert spec and spec.loader
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    server = serve.make_server("127.0.0.1", 0, echo=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        for path, status, ctype in (("/", 200, "text/html"), ("/wasm/compute-simd.wasm", 200, "application/wasm"),
                                    ("/js/png.mjs", 200, "text/javascript"), ("/../compute.py", 404, None),
                                    ("/js/../../compute.py", 404, None)):
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == status, path
            if ctype:
                assert resp.getheader("Content-Type", "").startswith(ctype)
                assert body
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
