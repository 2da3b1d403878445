"""`CanonHttpExecutor`: the `wasi:http` executor on the canon engine (a prototype beside
`http._executor.WasiHttpExecutor`, with the same `run(exchange)` contract and the same host objects).

Prepared once: the component is parsed and its core modules compiled (`CanonComponent`), the WASI
imports bound (`WasiHost`), the `handle` export's converters built. Per request: a store with the
component's `Limits`, the core instances, one `handle(request, response-outparam)` call with the
request's `HostState` bound, then the host table is closed and the store dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..component._values import Variant
from ..errors import DeadlineExceeded, GuestTrap, InvalidModule, LimitExceeded, LinkError, translate
from ..http._executor import _SKIP_REQUEST_HEADERS, HttpContext, _Lines
from ..http._types import Exchange
from ..runtime import Limits, Runtime
from ..wasi import Fields, HostState, IncomingBody, IncomingRequest, bound
from ..wasi._http_types import OutgoingResponse, ResponseOutparam
from ..wasi._outgoing import OutboundPolicyLike
from ._abi import CanonTrap
from ._instance import CanonComponent, Instance, take_error
from ._wasi import WasiHost

__all__ = ["CanonHttpExecutor"]

log = logging.getLogger("wasmhive.http")
HANDLER = "wasi:http/incoming-handler@0.2"


@dataclass
class CanonHttpExecutor:
    """Runs one `wasi:http` component on the canon engine. Thread-safe: each `run` has its own store."""

    runtime: Runtime
    source: str | Path | bytes
    name: str = "component"
    limits: Limits = field(default_factory=lambda: Limits(timeout=30.0))
    env: dict[str, str] = field(default_factory=dict)
    outbound: OutboundPolicyLike | None = None
    body_limit: int | None = 10 * 1000 * 1000

    def __post_init__(self) -> None:
        data = self.source if isinstance(self.source, bytes) else Path(self.source).read_bytes()
        if data[:4] != b"\0asm":
            from ..runtime._loader import to_binary  # component text → binary, like Runtime.load
            data = to_binary(data, self.name)[1]
        self.component = CanonComponent(self.runtime, data, WasiHost(self.runtime.engine, self.env), name=self.name)
        try:
            self.handle = self.component.export(HANDLER, "handle")
        except InvalidModule as e:
            raise InvalidModule(f"{self.name}: {e}") from None
        # Instantiate once now: a missing import is a start-up error, not a 500 on every request.
        state = HostState(name=self.name)
        try:
            with bound(state):
                Instance(self.component, self.runtime.new_store(self.limits))
        finally:
            state.close()

    def run(self, ex: Exchange) -> None:
        """Serve one exchange; never raises (failures become 500/504 and a log line)."""
        req = ex.request
        out, err = _Lines(self.name, "stdout"), _Lines(self.name, "stderr")
        deadline = time.monotonic() + self.limits.timeout if self.limits.timeout is not None else None
        state = HostState(deadline=deadline, stdout=out, stderr=err, name=self.name)
        state.waker = ex.waker
        state.http = HttpContext(self.outbound, self.body_limit, None)
        outgoing: list[OutgoingResponse] = []

        def on_set(resp: OutgoingResponse | Variant) -> None:
            if isinstance(resp, OutgoingResponse):
                assert resp.body is not None
                outgoing.append(resp)
                ex.respond(resp.status, resp.headers.entries, resp.body.channel)
            else:  # an `error-code` instead of a response
                ex.failure = f"the guest answered with error {resp.tag}" + (
                    f": {resp.value}" if resp.value is not None else "")
                ex.respond(500, [], b"")

        headers = Fields([(k.lower(), v.encode("latin-1")) for k, v in req.headers
                          if k.lower() not in _SKIP_REQUEST_HEADERS], mutable=False)
        incoming = IncomingRequest(req.method, req.path_with_query, req.scheme, req.authority, headers,
                                   IncomingBody(ex.body))
        store = None
        try:
            req_rep = state.table.add(incoming)
            out_rep = state.table.add(ResponseOutparam(on_set))
            with bound(state):
                store = self.runtime.new_store(self.limits)
                inst = Instance(self.component, store)
                self.handle.call(inst, req_rep, out_rep)
        except Exception as e:
            self._failed(ex, state, e)
        finally:
            self._finish(ex, state, outgoing[0] if outgoing else None)
            out.close()
            err.close()
            del store

    def _failed(self, ex: Exchange, state: HostState, e: Exception) -> None:
        host_error = take_error()
        error = e if isinstance(e, (LinkError, InvalidModule, GuestTrap)) else translate(e, timeout=self.limits.timeout)
        where = f"component `{self.name}` (route {ex.route or '/...'})"
        if isinstance(error, DeadlineExceeded) or state.deadline_hit:
            ex.failure = f"deadline of {self.limits.timeout:g}s exceeded"
            log.error("%s: %s %s: guest interrupted: ran past its %gs deadline", where, ex.request.method,
                      ex.request.path, self.limits.timeout or 0)
            ex.respond(504, [], b"")
            return
        if isinstance(host_error, CanonTrap):  # the guest broke the ABI: its trap, not a host failure
            ex.failure = str(host_error)
        else:
            ex.failure = str(error) if host_error is None or isinstance(error, LimitExceeded) else \
                f"host call failed: {host_error}"
        log.error("%s: %s %s: guest trapped: %s", where, ex.request.method, ex.request.path, ex.failure)
        ex.respond(500, [], b"")

    def _finish(self, ex: Exchange, state: HostState, resp: OutgoingResponse | None) -> None:
        if not ex.responded:
            ex.failure = ex.failure or "the guest returned without setting a response"
            log.error("component `%s`: %s %s: %s", self.name, ex.request.method, ex.request.path, ex.failure)
            ex.respond(500, [], b"")
        channel = ex.channel
        if channel is not None and channel.state == "open":
            if resp is not None and not resp.body_taken:
                channel.finish()
            else:
                channel.abort()
        state.close()
