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
from ...component._restypes import allocate
from ...component._values import ResultError
from ...wasi._calls import start_call
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

    Separate from the factor so a single-component host (`wasmhive call`) can link it too.
    """
    from ...component._hostcall import define_func, define_resource

    hr = {rt: ResourceType.host(rt) for rt in (RT_TENSOR, RT_ERROR, RT_CONTEXT, RT_GRAPH)}

    def define(li: Any, name: str, fn: Callable[..., Any]) -> None:
        op = name.rpartition(".")[2].removeprefix("[constructor]").removeprefix("[static]")

        def observed(*args: Any) -> Any:
            span = start_call("nn", op)
            try:
                result = fn(*args)
            except ResultError:
                if span is not None:
                    span.end("err")
                raise
            if span is not None:
                span.end("ok")
            return result
        define_func(li, name, observed, host_resources=hr)

    def dropper(attr: str) -> Callable[[int], None]:
        def dtor(rep: int) -> None:
            with contextlib.suppress(Exception):  # the request may already be gone
                getattr(inst(), attr).pop(rep, None)
        return dtor

    def get(table: dict[int, Any], rep: int, what: str) -> Any:
        obj = table.get(rep)
        if obj is None:
            raise NnError("invalid-argument", f"unknown {what} handle")
        return obj

    # -- errors -------------------------------------------------------------------------------------
    with root.add_instance(ERRORS) as li:
        define_resource(li, "error", RT_ERROR, dropper("errors"))
        define(li, "[method]error.code", lambda rep: inst().errors.get(rep, ("unknown", ""))[0])
        define(li, "[method]error.data", lambda rep: inst().errors.get(rep, ("unknown", "unknown error"))[1])

    # -- tensor -------------------------------------------------------------------------------------
    def new_tensor(dims: list[int], ty: str, data: bytes) -> int:
        # A constructor cannot return an error: the tensor is checked (size, type, shape) when it is
        # used, and a bad one makes that `compute` return `invalid-argument` or `too-large`.
        state = inst()
        if len(data) > state.app.limits.max_tensor_bytes:
            data = b""  # keep nothing oversized; `compute` reports too-large from the dimensions
        return state.add(state.tensors, (list(dims), ty, bytes(data)))

    def tensor_field(i: int) -> Callable[[int], Any]:
        return lambda rep: get(inst().tensors, rep, "tensor")[i]

    with root.add_instance(TENSOR) as li:
        define_resource(li, "tensor", RT_TENSOR, dropper("tensors"))
        define(li, "[constructor]tensor", new_tensor)
        define(li, "[method]tensor.dimensions", tensor_field(0))
        define(li, "[method]tensor.ty", tensor_field(1))
        define(li, "[method]tensor.data", tensor_field(2))

    # -- inference ----------------------------------------------------------------------------------
    def compute(ctx: int, inputs: list[tuple[str, int]]) -> Any:
        state = inst()
        try:
            model = get(state.contexts, ctx, "graph-execution-context")
            limits: NnLimits = state.app.limits
            tensors = []
            for name, rep in inputs:
                # The guest handed its `own<tensor>` over: the handle is ours now, consumed here.
                raw = state.tensors.pop(rep, None)
                if raw is None:
                    raise NnError("invalid-argument", f"input {name!r}: unknown tensor handle")
                tensors.append((name, Tensor(raw[0], raw[1], raw[2], limits)))
            outputs = run_model(model, tensors, limits, state.app.slots, state.deadline())
            return [(name, state.add(state.tensors, (list(t.dims), t.ty, t.data))) for name, t in outputs]
        except DeadlineReached as e:
            raise _deadline_trap(e) from None
        except NnError as e:
            raise ResultError(state.error(e)) from None

    with root.add_instance(INFERENCE) as li:
        define_resource(li, "graph-execution-context", RT_CONTEXT, dropper("contexts"))
        define(li, "[method]graph-execution-context.compute", compute)

    # -- graph --------------------------------------------------------------------------------------
    def result(fn: Callable[[NnInstance], int]) -> int:
        # `ok(handle)`, or `err(error)` with a new `error` resource.
        state = inst()
        try:
            return fn(state)
        except NnError as e:
            log.debug("wasi-nn: %s: %s", e.code, e)
            raise ResultError(state.error(e)) from None

    def load_by_name(name: str) -> Any:
        def load(state: NnInstance) -> int:
            model = state.allowed.get(name)
            if model is None:  # not granted and not configured look the same to the guest
                raise NnError("not-found", f"no model named {name!r} is available to this component")
            model.session()  # loaded at start-up: this only returns it
            return state.add(state.graphs, model)
        return result(load)

    def load_bytes(builders: list[bytes], encoding: str, target: str) -> Any:
        def load(state: NnInstance) -> int:
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
        return result(load)

    def init_context(graph: int) -> Any:
        return result(lambda state: state.add(state.contexts, get(state.graphs, graph, "graph")))

    with root.add_instance(GRAPH) as li:
        define_resource(li, "graph", RT_GRAPH, dropper("graphs"))
        define(li, "[method]graph.init-execution-context", init_context)
        define(li, "load", load_bytes)
        define(li, "load-by-name", load_by_name)
