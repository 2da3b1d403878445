"""The host interfaces a Spin 0.x module may import, with their wit-bindgen 0.2 ABI.

* `spin-config.get-config(key ptr, key len, result ptr)`: the component's variables (v1
  `[component.config]`). Result at `result ptr`: tag u8 at 0 (0 ok, 1 err); ok: the value (ptr at 4,
  len at 8); err: the `error` case u8 at 4 (provider 0, invalid-key 1, invalid-schema 2, other 3) and its
  message (ptr at 8, len at 12).
* `wasi-outbound-http.request(method, uri ptr/len, headers ptr/len, params ptr/len, body tag/ptr/len,
  result ptr)`: one outbound HTTP request, allowed by the component's `allowed_outbound_hosts` (the same
  `OutboundPolicy` as `wasi:http`: checked before and after name resolution, connected to the checked
  address). Result at `result ptr` (32 bytes): tag u8 at 0; ok: `response` at 4 (status u16 at 4,
  headers option tag at 8, ptr 12, len 16; body option tag at 20, ptr 24, len 28); err: `http-error`
  u8 at 4 (success 0, destination-not-allowed 1, invalid-url 2, request-error 3, runtime-error 4,
  too-many-requests 5).

Strings and lists the host hands back are allocated with the module's `canonical_abi_realloc`. A host
function never raises through wasmtime: a pointer outside the module's memory (or a trap in its
`canonical_abi_realloc`) is recorded in `CallState.error`, the call returns without an answer, and the
executor ends the request with a 500.
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import wasmtime

__all__ = ["CONFIG_IMPORT", "HTTP_IMPORT", "CallState", "host_linker"]

log = logging.getLogger("wasmhive.http.spin_core")

REALLOC = "canonical_abi_realloc"
CONFIG_IMPORT = ("spin-config", "get-config")
HTTP_IMPORT = ("wasi-outbound-http", "request")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
CONFIG_ERRORS = {"invalid-key": 1, "other": 3}
HTTP_ERRORS = {"destination-not-allowed": 1, "invalid-url": 2, "request-error": 3, "runtime-error": 4}
MAX_RESPONSE = 16 * 1024 * 1024  # bytes of outbound response body handed to a module
MAX_HEADERS = 1024
DEFAULT_TIMEOUT = 30.0
_KEY = re.compile(r"[a-z][a-z0-9_]*")
_SKIP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive", "upgrade", "te", "trailer"}


class Policy(Protocol):
    """The component's outbound policy (`capabilities.outbound_http.OutboundPolicy`)."""

    def allows(self, scheme: str, host: str, port: int | None = None) -> bool: ...

    def allows_address(self, scheme: str, host: str, ip: str, port: int | None = None) -> bool: ...


class CallState(threading.local):
    """This thread's request: its deadline, and the first ABI violation a host call saw."""

    error: str | None = None
    deadline: float | None = None

    def remaining(self) -> float:
        if self.deadline is None:
            return DEFAULT_TIMEOUT
        return max(0.001, min(DEFAULT_TIMEOUT, self.deadline - time.monotonic()))


class _Bad(Exception):
    """The module broke the ABI (recorded, never raised through wasmtime)."""


class _Memory:
    """The calling module's memory and allocator, every access bounds-checked."""

    def __init__(self, caller: wasmtime.Caller) -> None:
        memory, realloc = caller.get("memory"), caller.get(REALLOC)
        if not isinstance(memory, wasmtime.Memory) or not isinstance(realloc, wasmtime.Func):
            raise _Bad(f"the module exports no memory or {REALLOC}")
        self.caller, self.memory, self.realloc = caller, memory, realloc

    def read(self, ptr: int, size: int, what: str) -> bytes:
        if ptr + size > self.memory.data_len(self.caller):
            raise _Bad(f"{what} at {ptr:#x} ({size} bytes) is outside the module's memory")
        return bytes(self.memory.read(self.caller, ptr, ptr + size))

    def text(self, ptr: int, size: int, what: str) -> str:
        try:
            return self.read(ptr, size, what).decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad(f"{what} is not UTF-8") from None

    def write(self, ptr: int, data: bytes, what: str) -> None:
        if ptr + len(data) > self.memory.data_len(self.caller):
            raise _Bad(f"{what} at {ptr:#x} is outside the module's memory")
        self.memory.write(self.caller, data, ptr)

    def alloc(self, data: bytes, align: int = 1) -> int:
        try:
            ptr = int(self.realloc(self.caller, 0, 0, align, len(data))) & 0xFFFFFFFF
        except wasmtime.Trap as e:
            raise _Bad(f"{REALLOC} trapped: {str(e).splitlines()[0]}") from None
        self.write(ptr, data, f"{REALLOC}'s block")
        return ptr


def _guarded(name: str, state: CallState, fn: Callable[..., None]) -> Callable[..., None]:
    def host(caller: wasmtime.Caller, *args: int) -> None:
        try:
            fn(_Memory(caller), *(a & 0xFFFFFFFF for a in args))
        except _Bad as e:
            problem = str(e)
        except Exception as e:  # a host bug: still never an exception through wasmtime
            log.exception("%s failed", name)
            problem = f"internal error: {e}"
        else:
            return
        if state.error is None:
            state.error = f"{name}: {problem}"
    return host


def _get_config(config: Mapping[str, str]) -> Callable[..., None]:
    def get_config(mem: _Memory, key_ptr: int, key_len: int, ret: int) -> None:
        key = mem.text(key_ptr, key_len, "the key")
        mem.read(ret, 16, "the result record")
        value = config.get(key)
        if not _KEY.fullmatch(key):
            err, text = CONFIG_ERRORS["invalid-key"], f"invalid key {key[:64]!r}: lowercase letters, digits and _"
        elif value is None:
            err, text = CONFIG_ERRORS["other"], f"no config value for {key!r}"
        else:
            err, text = 0, value
        data = text.encode()
        ptr = mem.alloc(data)
        mem.write(ret, struct.pack("<BxxxII", 0, ptr, len(data)) if not err
                  else struct.pack("<BxxxBxxxII", 1, err, ptr, len(data)), "the result record")
    return get_config


def _fetch(policy: Policy, state: CallState, method: str, url: str, headers: list[tuple[str, str]],
           body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes] | str:
    """One blocking request; the response, or the name of the `http-error` case."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return "invalid-url"
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host:
        return "invalid-url"
    port = port or (443 if scheme == "https" else 80)
    if not policy.allows(scheme, host, port):
        return "destination-not-allowed"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return "request-error"
    allowed = [i for i in infos if policy.allows_address(scheme, host, str(i[4][0]), port)]
    if not allowed:
        return "destination-not-allowed"
    family, _, _, _, addr = allowed[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    conn = http.client.HTTPConnection(host, port)
    try:
        sock.settimeout(state.remaining())
        sock.connect(addr)  # the checked address: no second lookup
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        conn.sock = sock
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            if name.lower() not in _SKIP:
                conn.putheader(name, value)
        conn.putheader("content-length", str(len(body or b"")))
        conn.endheaders(body or b"")
        sock.settimeout(state.remaining())
        resp = conn.getresponse()
        data = bytearray()
        while chunk := resp.read1(65536):
            data += chunk
            if len(data) > MAX_RESPONSE:
                return "runtime-error"
            sock.settimeout(state.remaining())
        return resp.status, [(k.lower(), v) for k, v in resp.getheaders()][:MAX_HEADERS], bytes(data)
    except (OSError, http.client.HTTPException, ValueError):
        return "request-error"
    finally:
        conn.close()
        sock.close()


def _request(policy: Policy, state: CallState) -> Callable[..., None]:
    def request(mem: _Memory, method: int, uri_ptr: int, uri_len: int, hdr_ptr: int, hdr_len: int,
                _params_ptr: int, _params_len: int, body_tag: int, body_ptr: int, body_len: int, ret: int) -> None:
        if method >= len(METHODS) or body_tag > 1 or hdr_len > MAX_HEADERS:
            raise _Bad(f"bad request (method {method}, body tag {body_tag}, {hdr_len} headers)")
        mem.read(ret, 32, "the result record")
        url = mem.text(uri_ptr, uri_len, "the uri")
        table = mem.read(hdr_ptr, hdr_len * 16, "the headers list")
        headers = []
        for i in range(hdr_len):
            np_, nl, vp, vl = struct.unpack_from("<IIII", table, i * 16)
            headers.append((mem.text(np_, nl, f"header #{i + 1}'s name"), mem.text(vp, vl, f"header #{i + 1}")))
        body = mem.read(body_ptr, body_len, "the body") if body_tag else None
        got = _fetch(policy, state, METHODS[method], url, headers, body)
        if isinstance(got, str):
            log.info("wasi-outbound-http request to %s: %s", url[:200], got)
            mem.write(ret, struct.pack("<BxxxB", 1, HTTP_ERRORS[got]), "the result record")
            return
        status, rheaders, rbody = got
        records = b"".join(struct.pack("<IIII", mem.alloc(k.encode()), len(k.encode()), mem.alloc(v.encode()),
                                       len(v.encode())) for k, v in rheaders)
        list_ptr = mem.alloc(records, 4)
        mem.write(ret, struct.pack("<BxxxHxxBxxxIIBxxxII", 0, status, 1, list_ptr, len(rheaders), 1,
                                   mem.alloc(rbody), len(rbody)), "the result record")
    return request


def host_linker(engine: wasmtime.Engine, imports: set[tuple[str, str]], state: CallState, *,
                config: Mapping[str, str], policy: Any) -> wasmtime.Linker | None:
    """A linker with WASI preview 1 and the Spin 0.x interfaces the module imports (None: WASI alone)."""
    wanted = imports & {CONFIG_IMPORT, HTTP_IMPORT}
    if not wanted:
        return None
    i32 = wasmtime.ValType.i32()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    if CONFIG_IMPORT in wanted:
        linker.define_func(*CONFIG_IMPORT, wasmtime.FuncType([i32] * 3, []),
                           _guarded("spin-config.get-config", state, _get_config(dict(config))), access_caller=True)
    if HTTP_IMPORT in wanted:
        linker.define_func(*HTTP_IMPORT, wasmtime.FuncType([i32] * 11, []),
                           _guarded("wasi-outbound-http.request", state, _request(policy, state)), access_caller=True)
    return linker
