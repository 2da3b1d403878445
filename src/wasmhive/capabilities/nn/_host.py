"""The wasi-nn capability: `wasi:nn@0.2.0-rc-2024-10-28` (graph, tensor, inference, errors) on onnxruntime.

Deny by default, checked twice: a component may load only the models its `nn_models` lists (checked at
start-up against the runtime config's `[nn_model.*]`, and again by `load-by-name`, which answers
`not-found` for any other name, granted or not, so a guest cannot probe which models exist). `load` from
guest bytes answers `security` unless the operator set `[nn] allow_guest_models = true`.

Graph loading is cached per app (the onnxruntime session of each granted model is created at start-up
and shared by every request); each `init-execution-context` is a fresh context of one instance.
A failure the guest caused (wrong shape, type, size, unknown model) is a WIT `error` resource with the
matching `error-code`; only the request deadline ends the guest with a trap (the trigger answers 504).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wasmtime.component import ResourceType

from ...appconfig import AppConfig
from ...component._hostcall import define_func, define_resource, define_table, wit
from ...component._restypes import allocate
from ...wasi._calls import Errors, observed, op_name
from .._factor import StateOf
from ._config import NnApp, configure_models
from ._engine import DeadlineReached, NnError, NnLimits, OnnxModel, Tensor, run_model

__all__ = ["INTERFACES", "VERSION", "NnFactor", "NnInstance"]

log = logging.getLogger("wasmhive.capabilities.nn")

VERSION = "0.2.0-rc-2024-10-28"
TENSOR, GRAPH, INFERENCE, ERRORS = (f"wasi:nn/{i}@{VERSION}" for i in ("tensor", "graph", "inference", "errors"))
# Linker order: an interface's `use`d resources must be defined before it.
INTERFACES = (ERRORS, TENSOR, INFERENCE, GRAPH)

# Host resource type ids, from the one id space of component/_restypes.py.
RT_TENSOR, RT_ERROR, RT_CONTEXT, RT_GRAPH = (allocate(f"wasi:nn@{VERSION}#{r}")
                                             for r in ("tensor", "error", "graph-execution-context", "graph"))
MAX_HANDLES = 4096
MAX_GUEST_MODEL_BYTES = 64 * 1024 * 1024


@dataclass
class NnInstance:
    """One instance's view: the models it may load, its handles (rep → object), and its deadline."""

    allowed: dict[str, OnnxModel]
    app: NnApp
    deadline: Callable[[], float | None] = lambda: None
    tensors: dict[int, tuple[list[int], str, bytes]] = field(default_factory=dict)
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    graphs: dict[int, OnnxModel] = field(default_factory=dict)
    contexts: dict[int, OnnxModel] = field(default_factory=dict)
    reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, table: dict[int, Any], obj: Any) -> int:
        """A new rep for `obj` in `table` (a trap past MAX_HANDLES: a guest leaking handles stops)."""
        if len(self.tensors) + len(self.errors) + len(self.graphs) + len(self.contexts) >= MAX_HANDLES:
            raise NnError("too-large", f"more than {MAX_HANDLES} wasi-nn handles open in one instance")
        rep = next(self.reps)
        table[rep] = obj
        return rep

    def error(self, e: NnError) -> int:
        """An `error` resource for `e` (never counted against the handle cap: it reports the cap)."""
        rep = next(self.reps)
        self.errors[rep] = (e.code, str(e))
        return rep

    def close(self) -> None:
        self.tensors.clear()
        self.errors.clear()
        self.graphs.clear()
        self.contexts.clear()


def _calling_state() -> Any:
    """The WASI state of the request whose guest is calling on this thread, or None outside a request."""
    from ...component._hostcall import HostTrap
    from ...wasi import current

    try:
        return current()
    except HostTrap:
        return None


def _request_deadline() -> float | None:
    """The deadline of the request whose guest is calling on this thread (None outside a request)."""
    state = _calling_state()
    return state.deadline if state is not None else None


def _deadline_trap(e: DeadlineReached) -> BaseException:
    """The trap that ends a guest whose inference ran into the request deadline (the trigger answers 504)."""
    from ...wasi import DeadlineHit

    state = _calling_state()
    if state is not None:
        state.deadline_hit = True
    return DeadlineHit(str(e))


class NnFactor:
    """wasi-nn for guests; see the module docstring."""

    name = "nn"
    interfaces: tuple[str, ...] = INTERFACES

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> NnApp:
        return configure_models(app)

    def prepare(self, app_state: NnApp, component_id: str) -> NnInstance:
        names = app_state.allowed.get(component_id, frozenset())
        return NnInstance({n: app_state.models[n] for n in names}, app_state, _request_deadline)

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define the four wasi:nn interfaces on a component linker's root instance."""
        link_nn(root, lambda: state_of().states[self.name])


def link_nn(root: Any, inst: Callable[[], NnInstance]) -> None:
    """Define wasi:nn on `root`; `inst()` returns the calling instance's `NnInstance`.

    Separate from the factor so a single-component host (`wasmhive call`) can link it too. One small
    class per resource (`_Errors`, `_Tensors`, `_Inference`, `_Graphs`); every call is an observed "nn"
    call, and a guest-caused `NnError` of a function returning `result` is `err` of a new `error` resource.
    """
    hr = {rt: ResourceType.host(rt) for rt in (RT_TENSOR, RT_ERROR, RT_CONTEXT, RT_GRAPH)}
    host = _NnHost(inst)

    def definer(errors: Errors) -> Callable[[Any, str, Callable[..., Any]], None]:
        def define(li: Any, name: str, fn: Callable[..., Any]) -> None:
            define_func(li, name, observed("nn", op_name(name), fn, errors), host_resources=hr)
        return define

    guest_errors: Errors = {NnError: host.error}
    for iface, resource, rt, attr, table, errors in (
            (ERRORS, "error", RT_ERROR, "errors", _Errors(host), {}),
            (TENSOR, "tensor", RT_TENSOR, "tensors", _Tensors(host), {}),
            (INFERENCE, "graph-execution-context", RT_CONTEXT, "contexts", _Inference(host), guest_errors),
            (GRAPH, "graph", RT_GRAPH, "graphs", _Graphs(host), guest_errors)):
        with root.add_instance(iface) as li:
            define_resource(li, resource, rt, host.dropper(attr))
            define_table(li, table, definer(errors))


class _NnHost:
    """What the wasi:nn tables share: the calling instance's `NnInstance` and its handle tables."""

    def __init__(self, inst: Callable[[], NnInstance]) -> None:
        self.inst = inst

    def dropper(self, attr: str) -> Callable[[int], None]:
        def dtor(rep: int) -> None:
            with contextlib.suppress(Exception):  # the request may already be gone
                getattr(self.inst(), attr).pop(rep, None)
        return dtor

    def error(self, e: NnError) -> int:
        """The `error` resource a guest-caused failure answers (`err(error)`)."""
        log.debug("wasi-nn: %s: %s", e.code, e)
        return self.inst().error(e)


def _get(table: dict[int, Any], rep: int, what: str) -> Any:
    obj = table.get(rep)
    if obj is None:
        raise NnError("invalid-argument", f"unknown {what} handle")
    return obj


class _Errors:
    """`wasi:nn/errors`: the `error` resource."""

    def __init__(self, host: _NnHost) -> None:
        self.host = host

    @wit("[method]error.code")
    def code(self, rep: int) -> str:
        code: str = self.host.inst().errors.get(rep, ("unknown", ""))[0]
        return code

    @wit("[method]error.data")
    def data(self, rep: int) -> str:
        data: str = self.host.inst().errors.get(rep, ("unknown", "unknown error"))[1]
        return data


class _Tensors:
    """`wasi:nn/tensor`: the `tensor` resource (dimensions, type, bytes)."""

    def __init__(self, host: _NnHost) -> None:
        self.host = host

    @wit("[constructor]tensor")
    def new(self, dims: list[int], ty: str, data: bytes) -> int:
        # A constructor cannot return an error: the tensor is checked (size, type, shape) when it is
        # used, and a bad one makes that `compute` return `invalid-argument` or `too-large`.
        state = self.host.inst()
        if len(data) > state.app.limits.max_tensor_bytes:
            data = b""  # keep nothing oversized; `compute` reports too-large from the dimensions
        return state.add(state.tensors, (list(dims), ty, bytes(data)))

    def _field(self, rep: int, i: int) -> Any:
        return _get(self.host.inst().tensors, rep, "tensor")[i]

    @wit("[method]tensor.dimensions")
    def dimensions(self, rep: int) -> list[int]:
        dims: list[int] = self._field(rep, 0)
        return dims

    @wit("[method]tensor.ty")
    def ty(self, rep: int) -> str:
        ty: str = self._field(rep, 1)
        return ty

    @wit("[method]tensor.data")
    def data(self, rep: int) -> bytes:
        data: bytes = self._field(rep, 2)
        return data


class _Inference:
    """`wasi:nn/inference`: the `graph-execution-context` resource."""

    def __init__(self, host: _NnHost) -> None:
        self.host = host

    @wit("[method]graph-execution-context.compute")
    def compute(self, ctx: int, inputs: list[tuple[str, int]]) -> list[tuple[str, int]]:
        state = self.host.inst()
        model = _get(state.contexts, ctx, "graph-execution-context")
        limits: NnLimits = state.app.limits
        tensors = []
        for name, rep in inputs:
            # The guest handed its `own<tensor>` over: the handle is ours now, consumed here.
            raw = state.tensors.pop(rep, None)
            if raw is None:
                raise NnError("invalid-argument", f"input {name!r}: unknown tensor handle")
            tensors.append((name, Tensor(raw[0], raw[1], raw[2], limits)))
        try:
            outputs = run_model(model, tensors, limits, state.app.slots, state.deadline())
        except DeadlineReached as e:
            raise _deadline_trap(e) from None
        return [(name, state.add(state.tensors, (list(t.dims), t.ty, t.data))) for name, t in outputs]


class _Graphs:
    """`wasi:nn/graph`: loading graphs (granted models by name, or guest bytes) and the `graph` resource."""

    def __init__(self, host: _NnHost) -> None:
        self.host = host

    @wit("[method]graph.init-execution-context")
    def init_context(self, graph: int) -> int:
        state = self.host.inst()
        return state.add(state.contexts, _get(state.graphs, graph, "graph"))

    @wit("load-by-name")
    def load_by_name(self, name: str) -> int:
        state = self.host.inst()
        model = state.allowed.get(name)
        if model is None:  # not granted and not configured look the same to the guest
            raise NnError("not-found", f"no model named {name!r} is available to this component")
        model.session()  # loaded at start-up: this only returns it
        return state.add(state.graphs, model)

    @wit("load")
    def load(self, builders: list[bytes], encoding: str, target: str) -> int:
        state = self.host.inst()
        if not state.app.limits.allow_guest_models:
            raise NnError("security", "loading a model from guest bytes is not allowed "
                                      "(the operator can set [nn] allow_guest_models = true)")
        if encoding not in ("onnx", "autodetect"):
            raise NnError("invalid-encoding", f"only onnx models are supported, not {encoding}")
        if target != "cpu":
            raise NnError("unsupported-operation", f"only the cpu target is available, not {target}")
        if len(builders) != 1:
            raise NnError("invalid-argument", "an onnx model is exactly one builder buffer")
        if len(builders[0]) > MAX_GUEST_MODEL_BYTES:
            raise NnError("too-large", f"model bytes above {MAX_GUEST_MODEL_BYTES}")
        model = OnnxModel("<guest bytes>", data=bytes(builders[0]))
        model.session()
        return state.add(state.graphs, model)
