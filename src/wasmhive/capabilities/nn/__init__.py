"""wasi-nn for guests: `wasi:nn` graphs, tensors and inference on onnxruntime, models granted by name."""

from pathlib import Path

from ._config import NnApp, configure_models, models_from_flags
from ._engine import NnError, NnLimits, OnnxModel, Tensor, run_model
from ._host import INTERFACES, VERSION, NnFactor, NnInstance, link_nn

# wasmhive's own declaration of the `wasi:nn` WIT package (no installed package ships it: docs/NN.md).
WIT_DIR = Path(__file__).parent / "wit"

__all__ = [
    "INTERFACES",
    "VERSION",
    "WIT_DIR",
    "NnApp",
    "NnError",
    "NnFactor",
    "NnInstance",
    "NnLimits",
    "OnnxModel",
    "Tensor",
    "configure_models",
    "link_nn",
    "models_from_flags",
    "run_model",
]
