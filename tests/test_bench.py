"""The benchmark suite runs and its outputs check out (never its speed): `wasmhive bench ... --quick`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
WASMHIVE = [sys.executable, "-c", "from wasmhive.cli import main; main()"]


def _bench(*args: str, tmp_path: Path) -> dict:
    out = tmp_path / "out.json"
    proc = subprocess.run([*WASMHIVE, "bench", *args, "--json", str(out)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def compute():
    sys.path.append(str(BENCH))
    import compute as module

    yield module
    sys.path.remove(str(BENCH))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (the JS column needs it)")
def test_compute_quick_all_outputs_match(tmp_path: Path) -> None:
    data = _bench("compute", "--quick", tmp_path=tmp_path)
    assert data["mode"] == "quick"
    assert data["all_ok"] is True
    by = {(r["workload"], r["impl"]): r for r in data["results"]}
    for w in ("matmul", "png", "aes", "sha256"):
        for impl in ("js", "wasm", "wasm-simd", "py-lib"):
            assert by[(w, impl)]["ok"], (w, impl, by[(w, impl)]["note"])
            assert by[(w, impl)]["median"] > 0
        if shutil.which("gcc"):
            assert by[(w, "native")]["ok"]
    # Our deflate is the same algorithm in C and JS: byte-identical PNG files.
    assert by[("png", "js")]["digest"] == by[("png", "wasm")]["digest"] == by[("png", "wasm-simd")]["digest"]
    assert data["ratios"]["matmul"]["wasm_speedup_vs_js"] > 0


def test_png_from_wasm_decodes_byte_by_byte(compute) -> None:
    """Independent of the numpy check: a plain sequential PNG decode gives back the pixels."""
    from wasmhive import Runtime

    sizes = compute.QUICK
    img = compute.make_image(37, 23, np.random.default_rng(3))  # odd sizes: partial blocks, short rows
    small = type(sizes)(**{**sizes.__dict__, "width": 37, "height": 23})
    with Runtime() as rt:
        be = compute.WasmBackend(rt, compute.build_wasm(False))
        run, output = compute.run_backend(be, "png", {"image": img}, small)
        run()
        png = output()
    import bench_png

    assert bench_png.decode_sequential(png) == img.tobytes()
    assert bench_png.decodes_to(png, img, 37, 23)
    _, _, raw = bench_png.read_png(png)
    assert zlib.decompress(zlib.compress(raw)) == raw


def test_png_check_rejects_wrong_pixels(compute) -> None:
    import bench_png

    img = compute.make_image(16, 8, np.random.default_rng(4))
    png = bench_png.lib(img, 16, 8)
    assert bench_png.decodes_to(png, img, 16, 8)
    other = img.copy()
    other[3, 5, 1] ^= 1
    assert not bench_png.decodes_to(png, other, 16, 8)


def test_aes_and_sha_pure_python_match_libraries(compute) -> None:
    import bench_aes
    import bench_sha256

    key, iv = bytes(range(32)), b"\xff" * 16  # the counter wraps all 128 bits
    data = bytes(range(256)) * 3 + b"tail"
    assert bench_aes.pure(key, iv, data) == bench_aes.lib(key, iv, data)
    for n in (0, 55, 56, 64, 1000):
        assert bench_sha256.pure(data[:n]) == bench_sha256.lib(data[:n])


def test_results_sections_are_replaced(tmp_path: Path) -> None:
    sys.path.append(str(BENCH))
    try:
        import _results
    finally:
        sys.path.remove(str(BENCH))
    doc = tmp_path / "RESULTS.md"
    doc.write_text("# Results\n\nhand-written\n")
    _results.update_section("compute", "first", doc)
    _results.update_section("compute", "second", doc)
    text = doc.read_text()
    assert "hand-written" in text and "second" in text and "first" not in text
    assert text.count("<!-- compute:begin -->") == 1


@pytest.mark.slow
def test_startup_quick(tmp_path: Path) -> None:
    data = _bench("startup", "--quick", tmp_path=tmp_path)
    assert data["all_ok"] is True, data["problems"]
    start = {r["what"]: r for r in data["start"]}
    tiny = start["wasmhive instance: tiny C module (instantiate + call)"]
    assert tiny["value"] > 0
    sizes = {r["what"]: r["value"] for r in data["size"]}
    assert sizes["tiny C module (.wasm)"] < 1024


def test_bench_without_subcommand_shows_help() -> None:
    proc = subprocess.run([*WASMHIVE, "bench"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0
    assert "compute" in proc.stdout and "--serve" in proc.stdout
