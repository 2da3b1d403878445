"""The inference engine behind wasi-nn: ONNX models on onnxruntime (CPU), tensors as numpy views.

Nothing here knows about wasmtime: the host layer (`_host.py`) and the preview-1 ABI (`_witx.py`) both
turn guest values into `Tensor`s and call `OnnxModel.run`, which checks every input against the model's
own signature before onnxruntime sees it (a wrong shape, type or size is an `NnError`, never a crash).

Copies: a guest tensor arrives as one `bytes` object (the component layer's bulk `list<u8>` copy, or one
read of guest memory in preview 1); `np.frombuffer` views it without copying, and onnxruntime reads that
view. Outputs are made contiguous once and leave as one `bytes` copy.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DTYPES", "NnError", "NnLimits", "OnnxModel", "Tensor", "run_model"]

# wasi-nn tensor-type case → numpy dtype name (BF16 has no numpy dtype onnxruntime accepts from Python).
DTYPES: dict[str, str] = {"FP16": "float16", "FP32": "float32", "FP64": "float64", "U8": "uint8",
                          "I32": "int32", "I64": "int64"}
# onnxruntime's element type names → wasi-nn cases.
_ORT_TYPES = {"tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
              "tensor(uint8)": "U8", "tensor(int32)": "I32", "tensor(int64)": "I64"}
_BY_DTYPE = {v: k for k, v in DTYPES.items()}  # numpy dtype name → case (one dict lookup per output)
_SIZES = {"FP16": 2, "BF16": 2, "FP32": 4, "FP64": 8, "U8": 1, "I32": 4, "I64": 8}
MAX_RANK = 8


class NnError(Exception):
    """A wasi-nn failure: `code` is an `error-code` case name, the message becomes `error.data`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class DeadlineReached(NnError):
    """The request's deadline passed while waiting for or running an inference."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


@dataclass(frozen=True)
class NnLimits:
    """Caps on what guests may ask of the engine (see `_config.py` for the runtime-config keys)."""

    max_tensor_bytes: int = 16 * 1024 * 1024
    max_concurrent: int = 2
    allow_guest_models: bool = False


class Tensor:
    """A tensor as wasi-nn sees it: dimensions, element type (a `tensor-type` case name), packed bytes."""

    __slots__ = ("data", "dims", "ty")

    def __init__(self, dims: Sequence[int], ty: str, data: bytes, limits: NnLimits | None = None) -> None:
        if ty not in _SIZES:
            raise NnError("invalid-argument", f"unknown tensor type {ty!r}")
        if len(dims) > MAX_RANK:
            raise NnError("invalid-argument", f"tensor rank {len(dims)} is above {MAX_RANK}")
        want = math.prod(dims) * _SIZES[ty]
        cap = (limits or NnLimits()).max_tensor_bytes
        if want > cap or len(data) > cap:
            raise NnError("too-large", f"tensor of {max(want, len(data))} bytes is above the "
                                       f"{cap}-byte limit")
        if len(data) != want:
            raise NnError("invalid-argument", f"tensor data is {len(data)} bytes; dimensions "
                                              f"{list(dims)} of {ty} need {want}")
        self.dims = tuple(int(d) for d in dims)
        self.ty = ty
        self.data = data

    def array(self) -> Any:
        """A numpy view of the data (no copy)."""
        import numpy as np

        if self.ty not in DTYPES:
            raise NnError("unsupported-operation", f"tensor type {self.ty} is not supported by the ONNX backend")
        return np.frombuffer(self.data, dtype=DTYPES[self.ty]).reshape(self.dims)

    @classmethod
    def from_array(cls, arr: Any, limits: NnLimits) -> Tensor:
        """A tensor holding a copy of numpy array `arr` (one copy: `tobytes` of a contiguous array)."""
        import numpy as np

        a = np.asarray(arr)
        ty = _BY_DTYPE.get(a.dtype.name)
        if ty is None:
            raise NnError("unsupported-operation", f"model output of type {a.dtype} has no wasi-nn tensor type")
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        return cls(a.shape, ty, np.ascontiguousarray(a).tobytes(), limits)


class OnnxModel:
    """One ONNX model file (or guest-supplied bytes); its session is created once, on first use, and shared.

    onnxruntime sessions are safe to run from several threads at once; each `run` gets its own
    `RunOptions`, the fresh execution context of one request.
    """

    def __init__(self, name: str, path: str | None = None, data: bytes | None = None) -> None:
        self.name = name
        self.path = path
        self._data = data
        self._session: Any = None
        self._lock = threading.Lock()
        self.inputs: dict[str, tuple[str | None, tuple[int | None, ...]]] = {}

    def session(self) -> Any:
        """The onnxruntime session (created on the first call; later calls reuse it)."""
        s = self._session
        if s is not None:
            return s
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                # One thread per inference: concurrency comes from requests (bounded by max_concurrent),
                # so two guests never fight over the same cores inside one call.
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                opts.log_severity_level = 3
                try:
                    src = self._data if self._data is not None else self.path
                    sess = ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])
                except Exception as e:  # a corrupt or unsupported model file: the guest sees an error
                    raise NnError("invalid-encoding", f"model {self.name!r} cannot be loaded: "
                                                      f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
                                  ) from None
                self.inputs = {i.name: (_ORT_TYPES.get(i.type), tuple(d if isinstance(d, int) else None
                                                                      for d in i.shape))
                               for i in sess.get_inputs()}
                self._session = sess
            return self._session

    def check(self, inputs: Sequence[tuple[str, Tensor]]) -> dict[str, Any]:
        """The feed dict for onnxruntime, after checking names, types and shapes against the model."""
        self.session()
        feed: dict[str, Any] = {}
        for name, t in inputs:
            spec = self.inputs.get(name)
            if spec is None:
                raise NnError("invalid-argument", f"model {self.name!r} has no input {name!r} "
                                                  f"(inputs: {', '.join(self.inputs)})")
            if name in feed:
                raise NnError("invalid-argument", f"input {name!r} given twice")
            ty, shape = spec
            if ty is not None and t.ty != ty:
                raise NnError("invalid-argument", f"input {name!r} must be {ty}, not {t.ty}")
            if len(shape) != len(t.dims) or any(s is not None and s != d for s, d in zip(shape, t.dims,
                                                                                        strict=True)):
                want = ", ".join("?" if s is None else str(s) for s in shape)
                raise NnError("invalid-argument", f"input {name!r} must have shape [{want}], not {list(t.dims)}")
            feed[name] = t.array()
        missing = [n for n in self.inputs if n not in feed]
        if missing:
            raise NnError("invalid-argument", f"missing input(s) {', '.join(missing)} of model {self.name!r}")
        return feed

    def close(self) -> None:
        self._session = None


def run_model(model: OnnxModel, inputs: Sequence[tuple[str, Tensor]], limits: NnLimits,
              slots: threading.BoundedSemaphore, deadline: float | None) -> list[tuple[str, Tensor]]:
    """Run one inference, bounded by the shared slots and by `deadline` (a `time.monotonic()` value).

    Waiting for a slot and the inference itself both end at the deadline: onnxruntime's `terminate`
    flag stops a running graph between two operators, so the host call returns soon after it.
    """
    import onnxruntime as ort

    feed = model.check(inputs)
    sess = model.session()
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        raise DeadlineReached("the request deadline passed before the inference started")
    if not slots.acquire(timeout=left if left is not None else -1):
        raise DeadlineReached(f"no inference slot became free before the deadline ({limits.max_concurrent} "
                              "run at once)")
    timer = None
    try:
        opts = ort.RunOptions()
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineReached("the request deadline passed while waiting for an inference slot")
            timer = threading.Timer(left, _terminate, (opts,))
            timer.daemon = True
            timer.start()
        try:
            outputs = sess.run(None, feed, run_options=opts)
        except Exception as e:
            if opts.terminate:
                raise DeadlineReached("the request deadline passed during the inference") from None
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise NnError("runtime-error", f"inference failed: {first}") from None
    finally:
        if timer is not None:
            timer.cancel()
        slots.release()
    names = [o.name for o in sess.get_outputs()]
    return [(n, Tensor.from_array(v, limits)) for n, v in zip(names, outputs, strict=True)]


def _terminate(opts: Any) -> None:
    opts.terminate = True
