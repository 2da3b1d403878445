"""The preview-1 `wasi_ephemeral_nn` ABI for core modules (guests built with older wasi-nn SDKs).

The same engine as the component interface (`_engine.py`): the same grants, limits and checks, with
numbers instead of resources. Functions (all return an errno; results go through out-pointers):

    load(builders, builders_len, encoding, target, *graph)        guest bytes (only if allowed)
    load_by_name(name, name_len, *graph)                          a granted model
    init_execution_context(graph, *ctx)
    set_input(ctx, index, *tensor)     tensor = {dims ptr, dims len, type u8, data ptr, data len} (20 bytes)
    compute(ctx)
    get_output(ctx, index, buf, buf_max, *written)

Numbering follows Wasmtime's `wasi-nn.witx` of the same release: errno success, invalid_argument,
invalid_encoding, missing_memory, busy, runtime_error, unsupported_operation, too_large, not_found;
tensor types f16, f32, f64, u8, i32, i64; encodings openvino, onnx, tensorflow, pytorch, tensorflowlite,
autodetect. Pointers outside the guest's memory are `invalid_argument`, never a host fault.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from ...errors import DeadlineExceeded
from ._config import NnApp
from ._engine import DeadlineReached, NnError, OnnxModel, Tensor, run_model

__all__ = ["MODULE", "NnCoreState", "core_state", "define_core_nn"]

MODULE = "wasi_ephemeral_nn"
ERRNO = {"invalid-argument": 1, "invalid-encoding": 2, "missing-memory": 3, "busy": 4, "runtime-error": 5,
         "unsupported-operation": 6, "too-large": 7, "not-found": 8,
         # no such cases in the preview-1 errno: the nearest ones
         "security": 6, "timeout": 4, "unknown": 5}
TYPES = ("FP16", "FP32", "FP64", "U8", "I32", "I64")
ENCODINGS = ("openvino", "onnx", "tensorflow", "pytorch", "tensorflowlite", "autodetect")
MAX_HANDLES = 4096


@dataclass
class _Context:
    model: OnnxModel
    inputs: dict[int, Tensor] = field(default_factory=dict)
    outputs: list[Tensor] = field(default_factory=list)


@dataclass
class NnCoreState:
    """One core instance's wasi-nn state: granted models, graphs and contexts by number, its deadline."""

    allowed: dict[str, OnnxModel]
    app: NnApp
    deadline: float | None = None
    timeout: float = 0.0
    graphs: list[OnnxModel] = field(default_factory=list)
    contexts: list[_Context] = field(default_factory=list)


class _Memory:
    """Bounds-checked access to the calling instance's exported `memory`."""

    def __init__(self, caller: wasmtime.Caller) -> None:
        mem = caller.get("memory")
        if not isinstance(mem, wasmtime.Memory):
            raise NnError("missing-memory", "the module exports no memory")
        self.mem, self.caller = mem, caller
        self.size = mem.data_len(caller)

    def read(self, ptr: int, n: int) -> bytes:
        if ptr < 0 or n < 0 or ptr + n > self.size:
            raise NnError("invalid-argument", f"{n} bytes at {ptr} are outside the guest's memory")
        return bytes(self.mem.read(self.caller, ptr, ptr + n))

    def write(self, ptr: int, data: bytes) -> None:
        if ptr < 0 or ptr + len(data) > self.size:
            raise NnError("invalid-argument", f"{len(data)} bytes at {ptr} are outside the guest's memory")
        self.mem.write(self.caller, data, ptr)

    def u32(self, ptr: int) -> int:
        value: int = struct.unpack("<I", self.read(ptr, 4))[0]
        return value


def define_core_nn(linker: wasmtime.Linker, state_of: Callable[[], NnCoreState]) -> None:
    """Define the `wasi_ephemeral_nn` functions on a core `linker`; `state_of()` is the caller's state."""
    i32 = wasmtime.ValType.i32()

    def define(name: str, nparams: int, fn: Callable[..., None]) -> None:
        def call(caller: wasmtime.Caller, *args: int) -> int:
            try:
                fn(_Memory(caller), state_of(), *args)
                return 0
            except NnError as e:
                return ERRNO.get(e.code, 5)
            except DeadlineExceeded:
                # Ends the guest now. wasmtime-py carries a host function's exception out of the call
                # through a process-wide slot: fine here, core commands with wasi-nn run one per thread
                # of a `wasmhive run`, never many guests at once.
                raise
            except Exception:  # never unwind into wasmtime: an unexpected failure is runtime_error
                return ERRNO["runtime-error"]
        linker.define_func(MODULE, name, wasmtime.FuncType([i32] * nparams, [i32]), call, access_caller=True)

    def add(table: list[Any], obj: Any) -> int:
        if len(table) >= MAX_HANDLES:
            raise NnError("too-large", f"more than {MAX_HANDLES} wasi-nn handles")
        table.append(obj)
        return len(table) - 1

    def item(table: list[Any], index: int, what: str) -> Any:
        if not 0 <= index < len(table):
            raise NnError("invalid-argument", f"unknown {what} {index}")
        return table[index]

    def load_by_name(mem: _Memory, st: NnCoreState, name_ptr: int, name_len: int, out: int) -> None:
        name = mem.read(name_ptr, name_len).decode("utf-8", "replace")
        model = st.allowed.get(name)
        if model is None:
            raise NnError("not-found", f"no model named {name!r} is available to this module")
        model.session()
        mem.write(out, struct.pack("<I", add(st.graphs, model)))

    def load(mem: _Memory, st: NnCoreState, ptr: int, count: int, encoding: int, target: int, out: int) -> None:
        if not st.app.limits.allow_guest_models:
            raise NnError("security", "loading a model from guest bytes is not allowed")
        if count != 1 or not 0 <= encoding < len(ENCODINGS) or ENCODINGS[encoding] not in ("onnx", "autodetect"):
            raise NnError("invalid-encoding", "one onnx builder buffer is supported")
        if target != 0:
            raise NnError("unsupported-operation", "only the cpu target is available")
        data = mem.read(mem.u32(ptr), mem.u32(ptr + 4))
        model = OnnxModel("<guest bytes>", data=data)
        model.session()
        mem.write(out, struct.pack("<I", add(st.graphs, model)))

    def init(mem: _Memory, st: NnCoreState, graph: int, out: int) -> None:
        model = item(st.graphs, graph, "graph")
        mem.write(out, struct.pack("<I", add(st.contexts, _Context(model))))

    def set_input(mem: _Memory, st: NnCoreState, ctx: int, index: int, tensor: int) -> None:
        c: _Context = item(st.contexts, ctx, "execution context")
        dims_ptr, ndims, ty, data_ptr, data_len = struct.unpack("<IIB3xII", mem.read(tensor, 20))
        if ty >= len(TYPES):
            raise NnError("invalid-argument", f"unknown tensor type {ty}")
        if ndims > 8:
            raise NnError("invalid-argument", f"tensor rank {ndims} is above 8")
        if data_len > st.app.limits.max_tensor_bytes:
            raise NnError("too-large", f"tensor of {data_len} bytes is above the "
                                       f"{st.app.limits.max_tensor_bytes}-byte limit")
        dims = struct.unpack(f"<{ndims}I", mem.read(dims_ptr, 4 * ndims))
        c.inputs[index] = Tensor(dims, TYPES[ty], mem.read(data_ptr, data_len), st.app.limits)

    def compute(mem: _Memory, st: NnCoreState, ctx: int) -> None:
        c: _Context = item(st.contexts, ctx, "execution context")
        names = list(c.model.session().get_inputs())
        unknown = [i for i in c.inputs if not 0 <= i < len(names)]
        if unknown:
            raise NnError("invalid-argument", f"the model has {len(names)} input(s); index {unknown[0]} given")
        inputs = [(names[i].name, t) for i, t in sorted(c.inputs.items())]
        try:
            c.outputs = [t for _, t in run_model(c.model, inputs, st.app.limits, st.app.slots, st.deadline)]
        except DeadlineReached:
            raise DeadlineExceeded(st.timeout) from None

    def get_output(mem: _Memory, st: NnCoreState, ctx: int, index: int, buf: int, size: int, out: int) -> None:
        c: _Context = item(st.contexts, ctx, "execution context")
        t: Tensor = item(c.outputs, index, "output (compute first)")
        if len(t.data) > size:
            raise NnError("too-large", f"output {index} is {len(t.data)} bytes; the buffer holds {size}")
        mem.write(buf, t.data)
        mem.write(out, struct.pack("<I", len(t.data)))

    define("load", 5, load)
    define("load_by_name", 3, load_by_name)
    define("init_execution_context", 2, init)
    define("set_input", 3, set_input)
    define("compute", 1, compute)
    define("get_output", 5, get_output)


def core_state(app: NnApp, names: list[str], timeout: float | None) -> NnCoreState:
    """The state of one run: `names` granted out of `app`'s models, the deadline counted from now."""
    return NnCoreState({n: app.models[n] for n in names}, app,
                       None if timeout is None else time.monotonic() + timeout, timeout or 0.0)
