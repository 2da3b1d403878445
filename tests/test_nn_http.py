"""wasi-nn through the HTTP trigger: the example guest (componentize-py) classifies digits on onnxruntime.

The proofs of issue 14: predictions equal onnxruntime's own, bit for bit; a model not granted is the WIT
`not-found` error; bad tensors are WIT errors and the next request is fine; an inference running into the
request deadline ends with 504 and the next request is fine.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from nn_fixtures import nn_app, nn_built, nn_guests, slow_model
from wasmhive.app import App
from wasmhive.errors import ConfigError
from wasmhive.http import Request
from wasmhive.runtime import Runtime

__all__ = ["nn_built", "nn_guests"]

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def runtime(compile_cache: Path) -> Iterator[Runtime]:
    with Runtime(concurrency=False, cache=compile_cache) as rt:
        yield rt


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.astype(np.uint8), y


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # ~8.6 TFLOP: far longer than any deadline below (onnxruntime checks its terminate flag per operator)
    return slow_model(tmp_path_factory.mktemp("slow") / "slow.onnx", matmuls=2000)


def post(app: App, path: str, body: bytes) -> tuple[int, dict]:
    h = app.http_app(close_app=False)
    try:
        r = h.handle(Request("POST", path.split("?")[0], query=path.partition("?")[2], body=body,
                             headers=[("host", "127.0.0.1")]))
    finally:
        h.close()
    return r.status, (json.loads(r.text) if r.text else {})


def load(app_dir: Path, runtime: Runtime) -> App:
    return App.load(app_dir, runtime=runtime)


def test_predictions_equal_onnxruntime(nn_built: tuple[Path, Path], digits: tuple[np.ndarray, np.ndarray],
                                       runtime: Runtime, tmp_path: Path) -> None:
    wasm, onnx = nn_built
    x, _ = digits
    sample = x[:: len(x) // 25][:25]
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    labels, probs = session.run(None, {"input": sample.astype(np.float32) / np.float32(16)})
    with load(nn_app(tmp_path / "app", wasm, {"digits": onnx}, ["digits"]), runtime) as app:
        model = app.capabilities.state("nn").models["digits"]
        assert model._session is not None  # loaded at start-up, once for the app
        sessions = {id(model._session)}
        for i, img in enumerate(sample):
            status, doc = post(app, "/classify", img.tobytes())
            assert status == 200, doc
            assert doc["label"] == int(labels[i])
            # float32 → JSON → float32 round-trips exactly: bit-for-bit equal to onnxruntime's output
            assert np.array_equal(np.array(doc["probabilities"], dtype=np.float32), probs[i])
            # the same network in plain Python inside the guest agrees (float64 math: within 1e-5)
            status, pure = post(app, "/classify-pure", img.tobytes())
            assert status == 200 and pure["label"] == doc["label"]
            assert np.allclose(pure["probabilities"], probs[i], atol=1e-5)
            sessions.add(id(model._session))
        assert len(sessions) == 1  # one onnxruntime session for the app, every request (fresh instance) reuses it


def test_raw_tensor_outputs_are_onnxruntimes(nn_built: tuple[Path, Path], digits: tuple[np.ndarray, np.ndarray],
                                             runtime: Runtime, tmp_path: Path) -> None:
    wasm, onnx = nn_built
    batch = (digits[0][:3].astype(np.float32) / 16).astype("<f4")
    want = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).run(None, {"input": batch})
    with load(nn_app(tmp_path / "app", wasm, {"digits": onnx}, ["digits"]), runtime) as app:
        status, doc = post(app, "/infer?model=digits&input=input&type=FP32&dims=3,64", batch.tobytes())
    assert status == 200, doc
    out = doc["outputs"]
    assert out["label"]["type"] == "I64" and out["label"]["dims"] == [3]
    assert bytes.fromhex(out["label"]["data"]) == want[0].astype("<i8").tobytes()
    assert out["probabilities"]["dims"] == [3, 10]
    assert bytes.fromhex(out["probabilities"]["data"]) == want[1].astype("<f4").tobytes()


def test_model_not_granted_is_not_found(nn_built: tuple[Path, Path], slow: Path, runtime: Runtime,
                                        tmp_path: Path) -> None:
    wasm, onnx = nn_built
    one = struct.pack("<f", 1.0)
    # `slow` is configured for the app but not granted to the component; `nope` exists nowhere
    with load(nn_app(tmp_path / "app", wasm, {"digits": onnx, "slow": slow}, ["digits"]), runtime) as app:
        for name in ("slow", "nope"):
            status, doc = post(app, f"/infer?model={name}&input=x&dims=1,1", one)
            assert (status, doc["error"]) == (400, "not-found"), doc
            assert name in doc["data"]
        assert post(app, "/classify", bytes(64))[0] == 200


def test_granting_an_unconfigured_model_fails_at_start(nn_built: tuple[Path, Path], runtime: Runtime,
                                                       tmp_path: Path) -> None:
    wasm, onnx = nn_built
    with pytest.raises(ConfigError, match=r"component `digits` uses wasi-nn model 'other'.*\[nn_model.other\]"):
        load(nn_app(tmp_path / "app", wasm, {"digits": onnx}, ["digits", "other"]), runtime)


def test_a_granted_model_that_does_not_load_stops_start_up(nn_built: tuple[Path, Path], runtime: Runtime,
                                                          tmp_path: Path) -> None:
    wasm, onnx = nn_built
    d = nn_app(tmp_path / "app", wasm, {"digits": onnx}, ["digits"])
    (d / "digits.onnx").write_bytes(b"\x08\x07 not a model")
    with pytest.raises(ConfigError, match=r"\[nn_model.digits\]: model 'digits' cannot be loaded"):
        load(d, runtime)


def test_model_path_outside_the_app_is_refused(nn_built: tuple[Path, Path], runtime: Runtime,
                                               tmp_path: Path) -> None:
    wasm, onnx = nn_built
    d = nn_app(tmp_path / "app", wasm, {"digits": onnx}, ["digits"])
    (d / "runtime-config.toml").write_text(f'[nn_model.digits]\npath = "{onnx}"\n')
    with pytest.raises(ConfigError, match="must be relative to the app directory"):
        load(d, runtime)
    (d / "runtime-config.toml").write_text('[nn_model.digits]\npath = "../digits.onnx"\n')
    with pytest.raises(ConfigError, match=r"must not contain `\.\.`"):
        load(d, runtime)


@pytest.mark.parametrize(("query", "body", "code", "says"), [
    ("dims=1,63", bytes(63 * 4), "invalid-argument", "must have shape [?, 64], not [1, 63]"),
    ("dims=64", bytes(64 * 4), "invalid-argument", "must have shape"),
    ("type=I32&dims=1,64", bytes(64 * 4), "invalid-argument", "must be FP32, not I32"),
    ("dims=1,64", bytes(10), "invalid-argument", "tensor data is 10 bytes"),
    ("type=BF16&dims=1,64", bytes(128), "invalid-argument", "must be FP32, not BF16"),
    ("input=pixels&dims=1,64", bytes(256), "invalid-argument", "has no input 'pixels'"),
    ("dims=4096,64", bytes(16), "too-large", "above the 65536-byte limit"),
])
def test_bad_tensors_are_wit_errors(nn_built: tuple[Path, Path], runtime: Runtime, tmp_path: Path,
                                    query: str, body: bytes, code: str, says: str) -> None:
    wasm, onnx = nn_built
    d = nn_app(tmp_path / "app", wasm, {"digits": onnx}, ["digits"], nn="[nn]\nmax_tensor_bytes = 65536\n")
    with load(d, runtime) as app:
        q = query if "input=" in query else f"input=input&{query}"
        status, doc = post(app, f"/infer?model=digits&{q}", body)
        assert (status, doc.get("error")) == (400, code), doc
        assert says in doc["data"]
        status, doc = post(app, "/classify", bytes(range(16)) * 4)  # the instance after is fine
        assert status == 200 and 0 <= doc["label"] <= 9


def test_guest_model_bytes_need_the_operators_consent(nn_built: tuple[Path, Path], runtime: Runtime,
                                                      tmp_path: Path) -> None:
    wasm, onnx = nn_built
    model = onnx.read_bytes()
    with load(nn_app(tmp_path / "deny", wasm, {"digits": onnx}, ["digits"]), runtime) as app:
        status, doc = post(app, "/load", model)
        assert (status, doc["error"]) == (400, "security"), doc
    d = nn_app(tmp_path / "allow", wasm, {"digits": onnx}, ["digits"], nn="[nn]\nallow_guest_models = true\n")
    with load(d, runtime) as app:
        assert post(app, "/load", model) == (200, {"loaded": len(model)})
        status, doc = post(app, "/load", b"not a model")
        assert (status, doc["error"]) == (400, "invalid-encoding"), doc


def test_deadline_during_inference_is_504_and_the_next_request_is_fine(
        nn_built: tuple[Path, Path], slow: Path, runtime: Runtime, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    wasm, onnx = nn_built
    d = nn_app(tmp_path / "app", wasm, {"digits": onnx, "slow": slow}, ["digits", "slow"], timeout="3s")
    with load(d, runtime) as app, caplog.at_level(logging.ERROR):
        status, _ = post(app, "/infer?model=slow&input=x&dims=1,1", struct.pack("<f", 1.0))
        assert status == 504, caplog.text
        assert "deadline of 3s exceeded" in caplog.text or "ran past its 3s deadline" in caplog.text
        status, doc = post(app, "/classify", bytes(64))
        assert status == 200, doc


def test_nn_calls_are_observed_by_outcome(nn_built: tuple[Path, Path], slow: Path, runtime: Runtime,
                                          tmp_path: Path) -> None:
    """`--metrics` counts wasi-nn calls: a load answered `err(error)` is "err", an inference cut by the
    request deadline "deadline" (the guest is ended: the call's span still ends), the rest "ok"."""
    pc = pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    from wasmhive.http._metrics import Metrics

    wasm, onnx = nn_built
    d = nn_app(tmp_path / "app", wasm, {"digits": onnx, "slow": slow}, ["digits", "slow"], timeout="3s")
    with load(d, runtime) as app, app.http_app(close_app=False) as http:
        metered = Metrics(http.asgi(), http)
        for path, body, status in (("/infer?model=nope&input=x&dims=1,1", struct.pack("<f", 1.0), 400),
                                   ("/classify", bytes(64), 200),
                                   ("/infer?model=slow&input=x&dims=1,1", struct.pack("<f", 1.0), 504)):
            r = http.handle(Request("POST", path.split("?")[0], query=path.partition("?")[2], body=body,
                                    headers=[("host", "127.0.0.1")]))
            assert r.status == status, r.text
        text = pc.generate_latest(metered.registry).decode()
    calls = {(s.labels["op"], s.labels["outcome"]): s.value
             for f in text_string_to_metric_families(text) for s in f.samples
             if s.name == "wasmhive_capability_calls_total" and s.labels["capability"] == "nn"}
    assert calls[("load-by-name", "err")] == 1, calls
    assert (calls[("compute", "ok")], calls[("compute", "deadline")]) == (1, 1), calls
