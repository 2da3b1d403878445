"""The wasi-nn engine without a guest: tensor checks, the concurrency bound, the deadline, config errors."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import pytest

from nn_fixtures import nn_built, nn_guests, slow_model
from wasmhive.app._manifest import parse_manifest
from wasmhive.capabilities.nn import NnError, NnLimits, OnnxModel, Tensor, configure_models, run_model
from wasmhive.capabilities.nn._engine import DeadlineReached
from wasmhive.errors import ConfigError

__all__ = ["nn_built", "nn_guests"]

pytest.importorskip("onnxruntime")


def test_tensor_checks_size_and_type() -> None:
    assert Tensor([2, 3], "FP32", bytes(24)).array().shape == (2, 3)
    with pytest.raises(NnError, match="tensor data is 23 bytes") as e:
        Tensor([2, 3], "FP32", bytes(23))
    assert e.value.code == "invalid-argument"
    with pytest.raises(NnError, match="above the 16-byte limit") as e:
        Tensor([2, 3], "FP32", bytes(24), NnLimits(max_tensor_bytes=16))
    assert e.value.code == "too-large"
    with pytest.raises(NnError, match="rank 9 is above 8"):
        Tensor([1] * 9, "U8", b"\0")
    with pytest.raises(NnError) as e:
        Tensor([1], "BF16", bytes(2)).array()
    assert e.value.code == "unsupported-operation"


def test_concurrent_inferences_are_bounded(nn_built: tuple[Path, Path]) -> None:
    model = OnnxModel("digits", str(nn_built[1]))
    slots = threading.BoundedSemaphore(1)
    x = [("input", Tensor([1, 64], "FP32", bytes(256)))]
    assert [n for n, _ in run_model(model, x, NnLimits(), slots, None)] == ["label", "probabilities"]
    slots.acquire()  # another inference holds the only slot: this one waits, then ends at its deadline
    try:
        with pytest.raises(DeadlineReached, match="no inference slot became free"):
            run_model(model, x, NnLimits(max_concurrent=1), slots, time.monotonic() + 0.2)
    finally:
        slots.release()
    assert len(run_model(model, x, NnLimits(), slots, time.monotonic() + 60)) == 2  # the slot came back


def test_deadline_stops_a_running_inference(tmp_path: Path) -> None:
    model = OnnxModel("slow", str(slow_model(tmp_path / "slow.onnx")))
    model.session()  # loaded once per app before requests come (loading is not what this test times)
    x = [("x", Tensor([1, 1], "FP32", struct.pack("<f", 1.0)))]
    with pytest.raises(DeadlineReached, match="during the inference"):
        run_model(model, x, NnLimits(), threading.BoundedSemaphore(1), time.monotonic() + 0.5)


def test_a_file_that_is_not_a_model_is_invalid_encoding(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(NnError, match="model 'bad' cannot be loaded") as e:
        OnnxModel("bad", str(tmp_path / "bad.onnx")).session()
    assert e.value.code == "invalid-encoding"


def _app(tmp_path: Path, rc: dict[str, object], grants: str = '["digits"]') -> object:
    (tmp_path / "wasmhive.toml").write_text(
        f'[application]\nname = "x"\n[component.c]\nsource = "c.wasm"\nnn_models = {grants}\n')
    app = parse_manifest((tmp_path / "wasmhive.toml").read_text(), tmp_path / "wasmhive.toml")
    app.runtime.runtime_config = rc
    return app


@pytest.mark.parametrize(("rc", "says"), [
    ({}, "component `c` uses wasi-nn model 'digits', which is not configured"),
    ({"nn_model": {"digits": {}}}, r'\[nn_model.digits\] needs path = "file.onnx"'),
    ({"nn_model": {"digits": {"path": "missing.onnx"}}}, "model file .*missing.onnx does not exist"),
    ({"nn_model": {"digits": {"path": "m.onnx", "url": "x"}}}, r"unknown field\(s\) url"),
    ({"nn_model": {"digits": {"path": "m.onnx"}}, "nn": {"max_concurrent": 0}}, "must be a positive integer"),
    ({"nn_model": {"digits": {"path": "m.onnx"}}, "nn": {"gpu": True}}, r"\[nn\]: unknown field\(s\) gpu"),
])
def test_config_errors_name_the_problem(tmp_path: Path, rc: dict[str, object], says: str) -> None:
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(ConfigError, match=says):
        configure_models(_app(tmp_path, rc))  # type: ignore[arg-type]
