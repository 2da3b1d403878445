"""The preview-1 `wasi_ephemeral_nn` ABI: a C command built with zig classifies digits on the same engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import wasmtime

from nn_fixtures import EXAMPLE, nn_built, nn_guests, slow_model
from wasmhive import Limits, Runtime, Sandbox
from wasmhive.capabilities.nn import NnApp, NnLimits, OnnxModel
from wasmhive.capabilities.nn._witx import core_state, define_core_nn
from wasmhive.errors import DeadlineExceeded

__all__ = ["nn_built", "nn_guests"]

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def classify_c(guest_cache: Path) -> Path:
    from wasmhive.app.toolchains import zig_cc

    return zig_cc(EXAMPLE / "c" / "classify.c", cache_dir=guest_cache)


def run(rt: Runtime, wasm: Path, args: list[str], models: dict[str, Path], *, granted: list[str] | None = None,
        limits: NnLimits | None = None, timeout: float | None = None) -> tuple[int, str]:
    loaded = {n: OnnxModel(n, str(p)) for n, p in models.items()}
    state = core_state(NnApp(loaded, {}, limits or NnLimits()), list(models) if granted is None else granted,
                       timeout)
    linker = wasmtime.Linker(rt.engine)
    linker.define_wasi()
    define_core_nn(linker, lambda: state)
    r = rt.run(wasm, sandbox=Sandbox(args=["classify", *args], stdout="capture"), linker=linker,
               limits=Limits(timeout=timeout))
    return r.exit_code, r.stdout.decode()


def test_core_module_classifies_like_onnxruntime(classify_c: Path, nn_built: tuple[Path, Path],
                                                 runtime: Runtime) -> None:
    from sklearn.datasets import load_digits

    onnx = nn_built[1]
    x, _ = load_digits(return_X_y=True)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    for img in x[:1000:125]:
        labels, probs = session.run(None, {"input": (img.astype(np.float32) / 16)[None, :]})
        code, out = run(runtime, classify_c, ["digits", *map(str, img.astype(int))], {"digits": onnx})
        label, top = out.split()
        assert (code, int(label)) == (0, int(labels[0]))
        assert top == f"{probs[0][labels[0]]:.6f}"


def test_core_errors_are_errnos(classify_c: Path, nn_built: tuple[Path, Path], runtime: Runtime) -> None:
    onnx = nn_built[1]
    pixels = ["1"] * 64
    # not granted (configured for the app, not for this module) and unknown: not_found (8)
    assert run(runtime, classify_c, ["digits", *pixels], {"digits": onnx}, granted=[]) == (
        1, "load_by_name: error 8\n")
    assert run(runtime, classify_c, ["nope", *pixels], {"digits": onnx}) == (1, "load_by_name: error 8\n")
    # 63 pixels: [1, 63] against the model's [?, 64]: invalid_argument (1) at compute
    assert run(runtime, classify_c, ["digits", *pixels[:63]], {"digits": onnx}) == (1, "compute: error 1\n")
    # above max_tensor_bytes: too_large (7) at set_input
    assert run(runtime, classify_c, ["digits", *pixels], {"digits": onnx}, limits=NnLimits(max_tensor_bytes=100)) == (
        1, "set_input: error 7\n")
    assert run(runtime, classify_c, ["digits", *pixels], {"digits": onnx})[0] == 0  # and all is well after


def test_core_deadline_ends_the_inference_and_the_guest(classify_c: Path, runtime: Runtime, tmp_path: Path) -> None:
    slow = slow_model(tmp_path / "slow.onnx", matmuls=2000)
    OnnxModel("slow", str(slow)).session()  # warm the file cache; each run loads its own session
    with pytest.raises(DeadlineExceeded):
        run(runtime, classify_c, ["slow", "16"], {"slow": slow}, timeout=3.0)


def test_wasmhive_run_nn_model(classify_c: Path, nn_built: tuple[Path, Path]) -> None:
    from sklearn.datasets import load_digits

    pixels = [str(int(v)) for v in load_digits().data[0]]  # a 0
    cmd = [sys.executable, "-c", "from wasmhive.cli import main; main()", "run"]
    out = subprocess.run([*cmd, "--nn-model", f"digits={nn_built[1]}", str(classify_c), "digits", *pixels],
                         capture_output=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split()[0] == "0"
    out = subprocess.run([*cmd, str(classify_c), "digits", *pixels], capture_output=True, timeout=300, check=False)
    assert out.returncode == 65
    assert b"wasi_ephemeral_nn::load_by_name` has not been defined" in out.stderr
