"""`wasi:http/outgoing-handler`: outbound HTTP for guests, denied unless the policy allows it.

Checks, in order: the request names a scheme (http/https) and an authority; the component's
`OutboundPolicy` allows scheme://host:port; the host name is resolved once and the address that will be
connected to is checked again (`allows_address`: private, loopback and link-local addresses only when a
rule names the host explicitly); the connection goes to that address only (no second lookup, so no DNS
rebinding). Redirects are returned to the guest, never followed. Every step has a timeout (the request's
options, capped by the instance deadline). Requests to `http://self` and `<id>.spin.internal` never reach
the network: the component's app serves them in-process (`wasmhive.http._self`).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from wasmtime.component import LinkerInstance

from ..component._values import ResultError
from ._calls import CallSpan, start_call
from ._fields import FORBIDDEN, Fields
from ._http_types import (
    FutureIncomingResponse,
    IncomingBody,
    IncomingResponse,
    OutgoingRequest,
    RequestOptions,
    error_code,
    method_name,
)
from ._io import fn
from ._state import HostState, current
from ._streams import ChannelInput, Waker

__all__ = ["LocalExchange", "LocalTransport", "OutboundPolicyLike", "link_outgoing_handler"]

log = logging.getLogger("wasmhive.http.outbound")
DEFAULT_TIMEOUT = 30.0
_READ = 64 * 1024
_BUFFER = 1 << 20  # response bytes read ahead of the guest


class OutboundPolicyLike(Protocol):
    """What the outgoing handler needs from `wasmhive.capabilities.outbound_http.OutboundPolicy`."""

    def allows(self, scheme: str, host: str, port: int | None = None) -> bool: ...

    def allows_address(self, scheme: str, host: str, ip: str, port: int | None = None) -> bool: ...

    def allows_self(self) -> bool: ...


class LocalExchange(Protocol):
    """A request the app serves itself, as the outgoing handler follows it: the head once `responded`,
    then the body from `channel` (`take() -> (chunks, state)`, `cancel()`)."""

    @property
    def responded(self) -> bool: ...

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Any: ...

    @property
    def channel(self) -> Any: ...


class LocalTransport(Protocol):
    """The transport for requests the app serves itself (`http://self/...`, `<id>.spin.internal`), with no
    socket. The HTTP trigger implements it (`wasmhive.http._self.SelfRequests`): this layer hands over
    plain request parts and never needs the trigger's types."""

    def send(self, host: str, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes,
             scheme: str, authority: str, notify: Callable[[], None]) -> LocalExchange:
        """Start serving the request on another thread; `notify` is called on its head and body progress."""
        ...


def _split_authority(authority: str, scheme: str) -> tuple[str, int]:
    host, port = authority, None
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = authority[1:end], authority[end + 1:]
        port = int(rest[1:]) if rest.startswith(":") else None
    elif authority.count(":") == 1:
        host, _, p = authority.partition(":")
        port = int(p)
    return host.lower(), port if port is not None else (443 if scheme == "https" else 80)


def _seconds(ns: int | None, st: HostState) -> float:
    t = DEFAULT_TIMEOUT if ns is None else ns / 1e9
    left = st.deadline - time.monotonic() if st.deadline is not None else None
    return max(0.001, min(t, left) if left is not None else t)


def _refuse(code: str) -> ResultError:
    """The `err(error-code)` of `handle` for a request refused before it starts."""
    return ResultError(error_code(code))


def link_outgoing_handler(inst: LinkerInstance) -> None:
    def handle(req_rep: int, options_rep: int | None) -> int:
        """`result<own<future-incoming-response>, error-code>`: the future's rep, or raises the error."""
        st = current()
        req: OutgoingRequest = st.table.pop(req_rep)
        opts: RequestOptions = st.table.pop(options_rep) if options_rep is not None else RequestOptions()
        http = st.http
        policy: OutboundPolicyLike | None = getattr(http, "outbound", None)
        scheme = req.scheme.tag.lower() if req.scheme is not None else "https"
        if scheme not in ("http", "https"):
            raise _refuse("HTTP-protocol-error")
        local = getattr(http, "self_requests", None)
        if not req.authority:
            if local is None:
                raise _refuse("HTTP-request-URI-invalid")
            req.authority = "self"  # Spin: a request with only a path goes to the app itself
        try:
            host, port = _split_authority(req.authority, scheme)
        except ValueError:
            raise _refuse("HTTP-request-URI-invalid") from None
        target = f"{scheme}://{host}:{port}"
        # observability hook (traces, metrics): None unless `up --traces`/`--metrics`
        span = start_call("outbound_http", method_name(req.method),
                          {"server.address": host, "server.port": port, "url.scheme": scheme}, st)
        # `self` and `<component>.spin.internal` are the app itself (in-process), never the network.
        is_self, chained = host == "self", host.endswith(".spin.internal")
        if is_self or chained:
            granted = local is not None and policy is not None and (
                policy.allows_self() if is_self else policy.allows(scheme, host, port))
            if local is None or not granted:
                log.warning("[%s] outbound request to %s denied (%s)", st.name, target,
                            "not in allowed_outbound_hosts" if local is not None else "no app to call")
                raise _denied(span)
        elif policy is None or not policy.allows(scheme, host, port):
            log.warning("[%s] outbound request to %s denied (not in allowed_outbound_hosts)", st.name, target)
            raise _denied(span)
        assert policy is not None  # every branch above denied the request without one
        fut = FutureIncomingResponse(st)
        call = _Call(st, req, opts, scheme, host, port, policy, fut, local if is_self or chained else None)
        call.span = span
        fut.cancel = call.cancel
        threading.Thread(target=call.run, name=f"wasmhive-outbound-{host}", daemon=True).start()
        return st.table.add(fut)

    fn(inst, "handle", handle)


def _denied(span: CallSpan | None) -> ResultError:
    if span is not None:  # observability hook
        span.end("HTTP-request-denied")
    return _refuse("HTTP-request-denied")


class _Call:
    """One outbound request, run on its own thread; results land in `fut`."""

    def __init__(self, st: HostState, req: OutgoingRequest, opts: RequestOptions, scheme: str, host: str,
                 port: int, policy: OutboundPolicyLike, fut: FutureIncomingResponse,
                 local: LocalTransport | None = None) -> None:
        self.st, self.req, self.opts, self.local = st, req, opts, local
        self.inner: Any = None  # the self-request's exchange
        self.scheme, self.host, self.port, self.policy, self.fut = scheme, host, port, policy, fut
        self.waker: Waker = st.waker
        self.cancelled = False
        self.conn: http.client.HTTPConnection | None = None
        self.span: CallSpan | None = None  # observability hook, ended when the head arrives or the call fails
        # The guest may write and finish the body after `handle` (spin-sdk and StarlingMonkey always do):
        # every flush, finish or abort of it wakes this call's thread.
        self.body_progress = threading.Event()
        if req.body is not None:
            req.body.channel.notify = self.body_progress.set

    def cancel(self) -> None:
        self.cancelled = True
        self.body_progress.set()
        inner = self.inner
        if inner is not None and inner.channel is not None:
            inner.channel.cancel()  # the callee's next write fails
        conn = self.conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    def _next_body(self) -> tuple[list[bytes], bool]:
        """The body bytes the guest flushed since the last call, and whether the body is finished; waits
        until there is either. A body dropped without `finish` (or cut short of its content-length) fails
        the request. The guest's instance ending aborts an unfinished body, so the wait is bounded."""
        body = self.req.body
        if body is None:
            return [], True
        while True:
            self.body_progress.clear()  # before looking: a notification after this is not lost
            chunks, state = body.channel.take()
            if state in ("aborted", "cancelled"):
                raise _Failure("HTTP-protocol-error")
            if self.cancelled:
                raise _Failure("internal-error", "the request was dropped")
            if chunks or state == "finished":
                return chunks, state == "finished"
            self.body_progress.wait(1.0)

    def _whole_body(self) -> bytes:
        chunks, done = self._next_body()
        while not done:
            more, done = self._next_body()
            chunks += more
        return b"".join(chunks)

    def run(self) -> None:
        try:
            resp = self._send()
            if self.span is not None:  # observability hook
                self.span.end(str(resp.status))
            self.fut.complete(resp)
            return
        except _Failure as f:
            result = error_code(f.code, f.payload)
            outcome = f.code
        except Exception as e:  # never let a thread die silently: the guest gets an error code
            log.warning("[%s] outbound request failed: %s", self.st.name, e)
            result = error_code("internal-error", str(e))
            outcome = "internal-error"
        if self.span is not None:  # observability hook
            self.span.end(outcome)
        if self.req.body is not None:
            self.req.body.channel.cancel()  # the guest's further body writes fail instead of piling up
        if self.conn is not None:
            self.conn.close()
        self.fut.complete(result)

    def _send(self) -> IncomingResponse:
        if self.local is not None:
            return self._send_local(self._whole_body())
        if self.req.body is not None and self.req.body.channel.state in ("aborted", "cancelled"):
            raise _Failure("HTTP-protocol-error")  # dropped before `handle`: no connection for nothing
        connect_timeout = _seconds(self.opts.connect_timeout, self.st)
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise _Failure("DNS-error", {"rcode": str(e), "info-code": None}) from None
        allowed = [i for i in infos if self.policy.allows_address(self.scheme, self.host, str(i[4][0]), self.port)]
        if not allowed:
            log.warning("[%s] outbound request to %s denied: address %s is not allowed", self.st.name,
                        self.host, infos[0][4][0] if infos else "?")
            raise _Failure("destination-IP-prohibited")
        family, _, _, _, addr = allowed[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(addr)  # the checked address itself: no second name lookup
        except TimeoutError:
            sock.close()
            raise _Failure("connection-timeout") from None
        except OSError:
            sock.close()
            raise _Failure("connection-refused") from None
        # As `HTTPConnection.connect` would: a head and body pieces written apart must not wait on Nagle.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = http.client.HTTPConnection(self.host, self.port)
        conn.sock = sock
        self.conn = conn  # from here on, a failure closes it (`run`)
        if self.scheme == "https":
            try:
                conn.sock = sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            except ssl.SSLCertVerificationError:
                raise _Failure("TLS-certificate-error") from None
            except (ssl.SSLError, OSError):
                raise _Failure("TLS-protocol-error") from None
        sock.settimeout(_seconds(self.opts.first_byte_timeout, self.st))
        method = method_name(self.req.method)
        default_port = 443 if self.scheme == "https" else 80
        host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        if ":" in self.host:
            host_header = f"[{self.host}]" if self.port == default_port else f"[{self.host}]:{self.port}"
        conn.putrequest(method, self.req.path_with_query or "/", skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", host_header)
        # observability hook: our `traceparent` (this call's span) replaces one the guest set
        propagated = self.span.headers() if self.span is not None else []
        skip = {name for name, _ in propagated}
        for name, value in self.req.headers.entries:
            if name not in FORBIDDEN and name != "content-length" and name not in skip:
                conn.putheader(name, value)
        for name, text in propagated:
            conn.putheader(name, text)
        declared = getattr(self.req.body.channel, "expected", None) if self.req.body is not None else None
        try:
            chunks, done = self._next_body()
            if done:  # the whole body is known: one write with its exact length
                body = b"".join(chunks)
                if body or declared is not None or method in ("POST", "PUT", "PATCH"):
                    conn.putheader("content-length", str(len(body)))
                conn.endheaders(body or None)
            else:  # the guest is still writing: stream it as it comes
                chunked = declared is None
                conn.putheader(*(("transfer-encoding", "chunked") if chunked else ("content-length", str(declared))))
                conn.endheaders()
                while True:
                    for chunk in chunks:
                        conn.send(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                    if done:
                        break
                    chunks, done = self._next_body()
                if chunked:
                    conn.send(b"0\r\n\r\n")
            resp = conn.getresponse()
        except TimeoutError:
            raise _Failure("connection-read-timeout") from None
        except (http.client.HTTPException, OSError) as e:
            raise _Failure("HTTP-protocol-error" if isinstance(e, http.client.HTTPException)
                           else "connection-terminated") from None
        sock.settimeout(_seconds(self.opts.between_bytes_timeout, self.st))
        headers = Fields([(k.lower(), v.encode("latin-1")) for k, v in resp.getheaders()
                          if k.lower() not in FORBIDDEN], mutable=False)
        stream = ChannelInput(self.waker, on_close=self.cancel)  # the guest dropped the body: stop
        threading.Thread(target=self._pump, args=(resp, stream, conn), daemon=True,
                         name=f"wasmhive-outbound-body-{self.host}").start()
        return IncomingResponse(resp.status, headers, IncomingBody(stream))

    def _pump(self, resp: http.client.HTTPResponse, stream: ChannelInput, conn: http.client.HTTPConnection) -> None:
        try:
            while not self.cancelled:
                while stream.buffered() > _BUFFER and not self.cancelled and not stream.closed:
                    time.sleep(0.002)
                if stream.closed:
                    break
                chunk = resp.read1(_READ)
                if not chunk:
                    stream.end()
                    return
                stream.feed(chunk)
            stream.end()
        except Exception as e:
            stream.fail(f"outbound response body: {e}")
        finally:
            conn.close()


    def _send_local(self, body: bytes) -> IncomingResponse:
        """A self-request: the app serves it in-process (see `wasmhive.http._self`)."""
        path, _, query = (self.req.path_with_query or "/").partition("?")
        propagated = self.span.headers() if self.span is not None else []  # observability hook
        skip = {name for name, _ in propagated}
        headers = [(k, v.decode("latin-1")) for k, v in self.req.headers.entries
                   if k not in FORBIDDEN and k not in skip] + propagated
        authority = self.req.authority or "self"
        event = threading.Event()
        ex = self.inner = self.local.send(self.host, method_name(self.req.method), path, query,  # type: ignore[union-attr]
                                          headers, body, self.scheme, authority, event.set)
        limit = time.monotonic() + _seconds(self.opts.first_byte_timeout, self.st)
        while True:
            event.clear()  # before looking: a notification after this is not lost
            if ex.responded:
                break
            left = limit - time.monotonic()
            if left <= 0 or self.cancelled:
                self.cancel()
                raise _Failure("connection-read-timeout")
            event.wait(min(left, 0.5))
        fields = Fields([(k.lower() if isinstance(k, str) else k.decode("latin-1").lower(), bytes(v))
                         for k, v in ex.headers if (k if isinstance(k, str) else k.decode("latin-1")).lower()
                         not in FORBIDDEN], mutable=False)
        stream = ChannelInput(self.waker, on_close=self.cancel)
        threading.Thread(target=self._pump_local, args=(ex, event, stream), daemon=True,
                         name=f"wasmhive-self-body-{self.host}").start()
        return IncomingResponse(ex.status, fields, IncomingBody(stream))

    def _pump_local(self, ex: Any, event: threading.Event, stream: ChannelInput) -> None:
        channel = ex.channel
        while True:
            event.clear()
            chunks, state = channel.take()
            for c in chunks:
                stream.feed(c)
            if state == "finished":
                stream.end()
                return
            if state != "open" or self.cancelled or stream.closed:
                channel.cancel()
                stream.fail(f"self-request response body {state}")
                return
            while stream.buffered() > _BUFFER and not self.cancelled and not stream.closed:
                time.sleep(0.002)
            event.wait(0.5)


class _Failure(Exception):
    def __init__(self, code: str, payload: Any = None) -> None:
        super().__init__(code)
        self.code, self.payload = code, payload

