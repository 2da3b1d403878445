"""The `wasi:http` executor: a component's `wasi:http/incoming-handler` served in a fresh instance per request.

Prepared once: the component is compiled (or loaded from the cache), its linker built, its export index
and call converters resolved. Per request: a store with the component's limits and deadline, an
instance, one call of `handle(request, response-outparam)` on the worker thread, then everything is
dropped (host tables are closed explicitly: handles alive when a store goes get no destructor call).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

from ..component._hostcall import ExportCall, take_host_error
from ..component._values import Variant
from ..errors import DeadlineExceeded, GuestTrap, InvalidModule, LimitExceeded, LinkError, translate
from ..runtime import Compiled, Limits, Runtime
from ..runtime._instance import out_of_memory
from ..wasi import HOST_RESOURCES, Fields, HostState, IncomingBody, IncomingRequest, attach, build_linker
from ..wasi._http_types import OutgoingResponse, ResponseOutparam
from ..wasi._outgoing import OutboundPolicyLike
from ._logs import guest_line
from ._types import Exchange

__all__ = ["HttpContext", "WasiHttpExecutor"]

log = logging.getLogger("wasmhive.http")
HANDLER = "wasi:http/incoming-handler@0.2"
_UNTRACED = contextlib.nullcontext()  # reusable: the "span" of an untraced step
_SKIP_REQUEST_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
                                   "http2-settings", "proxy-authorization", "proxy-authenticate"})


@dataclass
class HttpContext:
    """The wasi:http layer's per-instance settings (`wasi.HttpSettings`, found by host functions as `state.http`)."""

    outbound: OutboundPolicyLike | None = None
    body_limit: int | None = None
    self_requests: Any = None  # the app, for requests to `http://self` and `*.spin.internal` (`_self.py`)


class _Lines:
    """Collects guest output and logs it line by line (`_logs.guest_line`: prefixed with the component
    name on the terminal, or into the component's file of a log directory)."""

    def __init__(self, name: str, stream: str) -> None:
        self.name, self.stream, self.buf = name, stream, b""
        self.tail = b""  # the last few KiB, for `out_of_memory`

    def __call__(self, data: bytes) -> None:
        self.tail = (self.tail + data)[-8192:]
        self.buf += data
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            guest_line(self.name, self.stream, line.decode("utf-8", "replace"))

    def close(self) -> None:
        if self.buf:
            self(b"\n")


@dataclass
class WasiHttpExecutor:
    """Runs one `wasi:http` component. Thread-safe: each `run` makes its own store and instance."""

    runtime: Runtime
    source: Compiled | str | Path | bytes
    name: str = "component"
    limits: Limits = field(default_factory=lambda: Limits(timeout=30.0))
    env: dict[str, str] = field(default_factory=dict)
    outbound: OutboundPolicyLike | None = None
    body_limit: int | None = 10 * 1000 * 1000
    link_extra: Callable[[wc.LinkerInstance], None] | None = None
    prepare_extra: Callable[[HostState], None] | None = None
    self_requests: Any = None  # `SelfRequests` of the app this component belongs to

    def __post_init__(self) -> None:
        if self.runtime.settings.concurrency:
            log.warning("%s: served on an engine with wasmtime's concurrency support on: a guest polling two or "
                        "more pollables will trap (wasmtime 50); serve with Runtime(concurrency=False)", self.name)
        self.compiled = self.source if isinstance(self.source, Compiled) else self.runtime.load(self.source)
        if self.compiled.kind != "component":
            raise InvalidModule("not a component: the wasi:http executor serves components exporting "
                                f"{HANDLER}.x (use the wagi executor for WASI command modules)",
                                source=self.compiled.name)
        component = self.compiled.component
        export = next((n for n in component.type.exports(self.runtime.engine) if n.startswith(HANDLER)), None)
        if export is None:
            raise InvalidModule(f"this component does not export {HANDLER}.x (it is not a wasi:http "
                                "component)", source=self.compiled.name)
        iface = component.get_export_index(export)
        index = component.get_export_index("handle", iface) if iface is not None else None
        if index is None:
            raise InvalidModule(f"{export} has no `handle` function", source=self.compiled.name)
        self._handle_index = index
        try:
            self.linker = build_linker(self.runtime.engine, component, self.link_extra)
        except wasmtime.WasmtimeError as e:
            raise LinkError(f"{self.compiled.name}: {str(e).splitlines()[0]}") from None
        self._call: ExportCall | None = None
        self._env = list(self.env.items())
        # Instantiate once now: a missing import is a start-up error, not a 500 on every request.
        state = HostState(name=self.name)
        try:
            self.instantiate(state)
        finally:
            state.close()

    # -- per request -----------------------------------------------------------------------------------
    def instantiate(self, state: HostState) -> tuple[wasmtime.Store, wc.Func]:
        store = self.runtime.new_store(self.limits, compiled=self.compiled)
        cfg = wasmtime.WasiConfig()
        if self._env:
            cfg.env = self._env
        store.set_wasi(cfg)
        try:
            instance = self.linker.instantiate(store, self.compiled.component)
        except wasmtime.WasmtimeError as e:
            text = str(e)
            if "import" in text and ("not defined" in text or "matching" in text or "type" in text):
                raise LinkError(f"{self.compiled.name}: {_first_line(text)}") from None
            raise
        func = instance.get_func(store, self._handle_index)
        assert func is not None
        if self._call is None:
            self._call = ExportCall(func, store, HOST_RESOURCES)
        return store, func

    def run(self, ex: Exchange) -> None:
        """Serve one exchange; never raises (failures become 500/504 and a log line)."""
        req = ex.request
        out, err = _Lines(self.name, "stdout"), _Lines(self.name, "stderr")
        deadline = time.monotonic() + self.limits.timeout if self.limits.timeout is not None else None
        state = HostState(deadline=deadline, stdout=out, stderr=err, name=self.name)
        state.waker = ex.waker
        state.http = HttpContext(self.outbound, self.body_limit, self.self_requests)
        if self.prepare_extra is not None:
            self.prepare_extra(state)
        if ex.calls is not None:  # cluster hook: capability calls traced and/or metered
            state.calls = ex.calls
        trace = ex.trace  # cluster hook: `_tracing.Tracing` or None

        def on_set(resp: OutgoingResponse | Variant) -> None:
            if isinstance(resp, OutgoingResponse):
                assert resp.body is not None
                outgoing.append(resp)
                ex.respond(resp.status, resp.headers.entries, resp.body.channel)
            else:  # an `error-code` instead of a response
                ex.failure = f"the guest answered with error {resp.tag}" + (
                    f": {resp.value}" if resp.value is not None else "")
                ex.respond(500, [], b"")

        headers = Fields.received(req.raw_headers, _SKIP_REQUEST_HEADERS)
        incoming = IncomingRequest(req.method, req.path_with_query, req.scheme, req.authority, headers,
                                   IncomingBody(ex.body))
        store = None
        outgoing: list[OutgoingResponse] = []
        try:
            req_rep = state.table.add(incoming)
            out_rep = state.table.add(ResponseOutparam(on_set))
            with trace.span("wasmhive.instantiate") if trace is not None else _UNTRACED:
                store, func = self.instantiate(state)
            call = self._call
            assert call is not None
            with attach(store, state), trace.span("wasmhive.handle") if trace is not None else _UNTRACED:
                call(store, func, req_rep, out_rep)
        except Exception as e:
            self._failed(ex, state, e)
        finally:
            self._finish(ex, state, outgoing[0] if outgoing else None)
            out.close()
            err.close()
            del store

    def _failed(self, ex: Exchange, state: HostState, e: Exception) -> None:
        host_error = take_host_error()
        error = e if isinstance(e, (LinkError, InvalidModule)) else translate(e, timeout=self.limits.timeout)
        error = out_of_memory(error, self.limits, getattr(state.stderr, "tail", b"")) or error
        where = f"component `{self.name}` (route {ex.route or '/...'})"
        if isinstance(error, DeadlineExceeded) or state.deadline_hit:
            ex.failure = f"deadline of {self.limits.timeout:g}s exceeded"
            log.error("%s: %s %s: guest interrupted: ran past its %gs deadline", where, ex.request.method,
                      ex.request.path, self.limits.timeout or 0)
            ex.respond(504, [], b"")
            return
        if host_error is not None and not isinstance(error, LimitExceeded):
            ex.failure = f"host call failed: {host_error}"
        else:
            ex.failure = str(error)
        # wasmtime's whole cause, not just its last line (the short trap message): the first lines are
        # often what explains the trap ("BUG: deferred host scope has no call context" came first, then
        # nine lines of prose).
        cause = whole_cause(error.detail) if isinstance(error, GuestTrap) else []
        if cause and host_error is None:
            ex.failure = cause[0]
        detail = "".join(f"\n  {line}" for line in cause if line not in ex.failure)
        if isinstance(error, GuestTrap) and error.backtrace:
            detail += "\nwasm backtrace:\n" + error.short_backtrace(12)
        log.error("%s: %s %s: guest trapped: %s%s", where, ex.request.method, ex.request.path, ex.failure, detail)
        ex.respond(500, [], b"")

    def _finish(self, ex: Exchange, state: HostState, resp: OutgoingResponse | None) -> None:
        if not ex.responded:
            ex.failure = ex.failure or "the guest returned without setting a response"
            log.error("component `%s` (route %s): %s %s: %s", self.name, ex.route or "/...", ex.request.method,
                      ex.request.path, ex.failure)
            ex.respond(500, [], b"")
        channel = ex.channel
        if channel is not None and channel.state == "open":
            # The instance is gone: nobody can write more. A body never written to is simply empty.
            if resp is not None and not resp.body_taken:
                channel.finish()
            else:
                channel.abort()
        state.close()


def whole_cause(text: str) -> list[str]:
    """The lines of a wasmtime error's cause (after `Caused by:`), without backtrace frames, blank lines
    and the `N:` numbering of a chain; the first is the outermost context."""
    _, sep, chain = text.partition("Caused by:")
    lines = []
    for ln in (chain if sep else text).splitlines():
        ln = ln.strip()
        if not ln or re.match(r"^\d+:\s+0x[0-9a-f]+\s+-", ln) or ln.startswith("error while executing at wasm"):
            continue
        lines.append(re.sub(r"^\d+:\s*", "", ln).removeprefix("wasm trap: "))
    return lines


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " / ".join(lines[:2]) if lines else "link error"
