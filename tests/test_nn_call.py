"""wasi-nn through `wasmhive call`: the example's function guest (cli.wasm) classifies a digit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nn_fixtures import nn_guests
from wasmhive.cli import main

__all__ = ["nn_guests"]

ort = pytest.importorskip("onnxruntime")


def call(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["call", *args])
    return r.exit_code, r.output


def test_call_classifies_like_onnxruntime(nn_guests: tuple[Path, Path, Path]) -> None:
    from sklearn.datasets import load_digits

    _, cli, onnx = nn_guests
    x, _ = load_digits(return_X_y=True)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    for img in x[:1500:300]:
        want = int(session.run(None, {"input": (img.astype(np.float32) / 16)[None, :]})[0][0])
        code, out = call(str(cli), "classify", json.dumps([int(v) for v in img]), "--nn-model", f"digits={onnx}")
        assert (code, out.strip().splitlines()[-1]) == (0, str(want))


def test_call_without_the_model_is_the_wit_error(nn_guests: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, cli, onnx = nn_guests
    pixels = json.dumps([0] * 64)
    # not granted at all, and granted under another name: the guest sees `not-found` both times
    for extra in ([], ["--nn-model", f"other={onnx}"]):
        code, out = call(str(cli), "classify", pixels, *extra)
        assert code == 1
        assert json.loads(out.strip().splitlines()[-1]) == {
            "err": "not-found: no model named 'digits' is available to this component"}
    code, out = call(str(cli), "classify", pixels, "--nn-model", f"digits={tmp_path / 'missing.onnx'}")
    assert code == 64 and "--nn-model needs NAME=FILE with an existing ONNX file" in out
