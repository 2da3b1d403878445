"""Fixtures of the wasi-nn tests: the example's model and guest (built once, cached), apps around them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "nn"


def example_build() -> object:
    """examples/nn/build.py as a module."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        import build
    finally:
        sys.path.remove(str(EXAMPLE))
    return build


@pytest.fixture(scope="session")
def nn_guests(guest_cache: Path) -> tuple[Path, Path, Path]:
    """(app.wasm, cli.wasm, digits.onnx) of examples/nn, built with the example's own build code (cached)."""
    return example_build().build(guest_cache)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(scope="session")
def nn_built(nn_guests: tuple[Path, Path, Path]) -> tuple[Path, Path]:
    """(app.wasm, digits.onnx): the HTTP guest and its model."""
    return nn_guests[0], nn_guests[2]


def slow_model(path: Path, matmuls: int = 400, size: int = 1024) -> Path:
    """An ONNX model that takes seconds: input x [1, 1] → broadcast to size x size → `matmuls` MatMuls.

    Its weights are made inside the graph (ConstantOfShape), so the file stays tiny.
    """
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [size, size])
    nodes = [helper.make_node("Constant", [], ["shape"], value=shape),
             helper.make_node("ConstantOfShape", ["shape"], ["w"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0 / size])),
             helper.make_node("Expand", ["x", "shape"], ["y0"])]
    for i in range(matmuls):
        nodes.append(helper.make_node("MatMul", [f"y{i}", "w"], [f"y{i + 1}"]))
    nodes.append(helper.make_node("ReduceSum", [f"y{matmuls}"], ["sum"], keepdims=0))
    graph = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
                              [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def nn_app(dest: Path, wasm: Path, models: dict[str, Path], grants: list[str], *, timeout: str | None = None,
           nn: str = "") -> Path:
    """An app directory serving the example guest with `models` configured and `grants` granted."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wasm, dest / "app.wasm")
    for name, path in models.items():
        shutil.copyfile(path, dest / f"{name}.onnx")
    limits = f'\n[component.digits.limits]\ntimeout = "{timeout}"\n' if timeout else ""
    (dest / "wasmhive.toml").write_text(
        '[application]\nname = "nn-test"\n\n[[trigger.http]]\nroute = "/..."\ncomponent = "digits"\n\n'
        f'[component.digits]\nsource = "app.wasm"\nnn_models = {grants!r}\n{limits}'.replace("'", '"'))
    (dest / "runtime-config.toml").write_text(
        "".join(f'[nn_model.{n}]\npath = "{n}.onnx"\n' for n in models) + nn)
    return dest
