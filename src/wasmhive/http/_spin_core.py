"""Spin 0.x HTTP modules: core Wasm modules exporting `handle-http-request` with the pre-component ABI.

Before the component model, Spin components were WASI core modules built with wit-bindgen 0.2 against
`spin-http.wit`. Spin still runs them by wrapping them in an adapter (`spin-componentize`) that calls the
module's export with the canonical ABI it had then; we call the export directly with the same ABI:

* The host copies the request into the module's memory through its `canonical_abi_realloc(0, 0, align,
  size)` export, then calls `handle-http-request` with the request flattened into ten i32s:
  `method` (get, post, put, delete, patch, head, options = 0..6), `uri` (ptr, len; path and query),
  `headers` (ptr, len of (name ptr, name len, value ptr, value len) records of 16 bytes), `params`
  (ptr, len; always empty, as in Spin), `body` (is-some, ptr, len).
* The export returns a pointer to the 28-byte `response` record: `status` u16 at 0, `headers`
  option at 4 (tag u8, ptr at 8, len at 12), `body` option at 16 (tag u8, ptr at 20, len at 24).

Everything the module answers is checked before it is used: a pointer or length outside its memory,
a bad tag, invalid UTF-8, a status outside 100-599 or a header that is not a valid HTTP header is a 500
with a log line naming the component and the problem, never a host error. Each request runs in a fresh
instance with the component's limits; the instance (and whatever it allocated) is dropped afterwards.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import wasmtime

from ..errors import ConfigError, DeadlineExceeded, GuestError, LimitExceeded, WasmhiveError
from ..runtime import Compiled, Limits, Preopen, Runtime, Sandbox
from ._logs import guest_line
from ._router import RouteMatch
from ._spin_core_imports import CONFIG_IMPORT, HTTP_IMPORT, CallState, host_linker
from ._wagi import WagiRequest, WagiResponse

__all__ = ["EXPORT", "AbiError", "SpinCoreExecutor", "is_spin_core_module"]

log = logging.getLogger("wasmhive.http.spin_core")

EXPORT = "handle-http-request"
REALLOC = "canonical_abi_realloc"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
RESPONSE_SIZE = 28
MAX_HEADERS = 4096  # response headers a module may return
_WASI = ("wasi_snapshot_preview1", "wasi_unstable")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class AbiError(ValueError):
    """The module's answer does not follow the ABI (the request gets a 500)."""


def is_spin_core_module(compiled: Compiled) -> bool:
    """Whether `compiled` is a core module exporting Spin 0.x's `handle-http-request`."""
    return compiled.kind == "module" and any(e.name == EXPORT for e in compiled.module.exports)


def _check_exports(compiled: Compiled, component_id: str) -> None:
    i32 = wasmtime.ValType.i32()
    want = {EXPORT: ([i32] * 10, [i32]), REALLOC: ([i32] * 4, [i32])}
    found = {e.name: e.type for e in compiled.module.exports}
    if EXPORT not in found:
        hint = " (a WASI command module: give its route `executor = { type = \"wagi\" }`)" if "_start" in found else ""
        raise ConfigError(f"component `{component_id}`: a core module on an HTTP route must export `{EXPORT}` "
                          f"(Spin 0.x's HTTP ABI){hint}")
    for name, (params, results) in want.items():
        ty = found.get(name)
        if not isinstance(ty, wasmtime.FuncType) or list(ty.params) != params or list(ty.results) != results:
            raise ConfigError(f"component `{component_id}`: a Spin 0.x module must export `{name}` as a function "
                              f"of {len(params)} i32 returning i32 (the wit-bindgen 0.2 ABI of spin-http.wit)")
    if not isinstance(found.get("memory"), wasmtime.MemoryType):
        raise ConfigError(f"component `{component_id}`: a Spin 0.x module must export its `memory`")
    other = sorted({f"{i.module}.{i.name}" for i in compiled.module.imports
                    if i.module not in _WASI and (i.module, i.name) not in (CONFIG_IMPORT, HTTP_IMPORT)})
    if other:
        raise ConfigError(f"component `{component_id}`: this Spin 0.x module imports {', '.join(other[:5])}, which "
                          "wasmhive does not provide to pre-component modules (only WASI preview 1, "
                          "spin-config's get-config and wasi-outbound-http's request)")


class _Guest:
    """One instance's memory, read and written with every pointer checked."""

    def __init__(self, inst: Any) -> None:
        self.inst = inst
        self.memory = inst.memory

    def _span(self, ptr: int, size: int, what: str) -> None:
        end = len(self.memory)
        if ptr < 0 or size < 0 or ptr + size > end:
            raise AbiError(f"{what} at {ptr:#x} ({size} bytes) is outside the module's memory ({end} bytes)")

    def alloc(self, data: bytes, align: int) -> int:
        ptr = self.inst.call(REALLOC, 0, 0, align, len(data)) & 0xFFFFFFFF
        if ptr % align:
            raise AbiError(f"{REALLOC} returned {ptr:#x}, not aligned to {align}")
        self._span(ptr, len(data), f"{REALLOC}'s block")
        self.memory.write(ptr, data)
        return int(ptr)

    def read(self, ptr: int, size: int, what: str) -> bytes:
        self._span(ptr, size, what)
        return bytes(self.memory.read(ptr, size))

    def text(self, ptr: int, size: int, what: str) -> str:
        try:
            return self.read(ptr, size, what).decode("utf-8")
        except UnicodeDecodeError as e:
            raise AbiError(f"{what} is not UTF-8: {e}") from None


def _lower_pairs(guest: _Guest, pairs: list[tuple[str, str]]) -> tuple[int, int]:
    records = b"".join(struct.pack("<IIII", guest.alloc(k.encode(), 1), len(k.encode()),
                                   guest.alloc(v.encode(), 1), len(v.encode())) for k, v in pairs)
    return guest.alloc(records, 4), len(pairs)


def _option(guest: _Guest, raw: bytes, what: str) -> tuple[int, int] | None:
    tag, ptr, size = raw[0], *struct.unpack_from("<II", raw, 4)
    if tag not in (0, 1):
        raise AbiError(f"response {what}: option tag {tag} (must be 0 or 1)")
    return (ptr, size) if tag else None


def call_handler(guest: _Guest, method: int, uri: str, headers: list[tuple[str, str]],
                 body: bytes | None) -> WagiResponse:
    """Lower the request, call the export, lift and check the response."""
    uri_b = uri.encode()
    uri_ptr = guest.alloc(uri_b, 1)
    hdr_ptr, hdr_len = _lower_pairs(guest, headers)
    par_ptr, par_len = _lower_pairs(guest, [])
    body_args = (1, guest.alloc(body, 1), len(body)) if body is not None else (0, 0, 0)
    ret = guest.inst.call(EXPORT, method, uri_ptr, len(uri_b), hdr_ptr, hdr_len, par_ptr, par_len,
                          *body_args) & 0xFFFFFFFF
    if ret % 4:
        raise AbiError(f"the response record at {ret:#x} is not aligned to 4")
    raw = guest.read(ret, RESPONSE_SIZE, "the response record")
    status = struct.unpack_from("<H", raw, 0)[0]
    if not 100 <= status <= 599:
        raise AbiError(f"response status {status} (must be 100-599)")
    out_headers: list[tuple[str, str]] = []
    hdrs = _option(guest, raw[4:16], "headers")
    if hdrs is not None:
        ptr, n = hdrs
        if n > MAX_HEADERS:
            raise AbiError(f"{n} response headers (at most {MAX_HEADERS})")
        table = guest.read(ptr, n * 16, "the response headers list")
        for i in range(n):
            np_, nl, vp, vl = struct.unpack_from("<IIII", table, i * 16)
            name = guest.text(np_, nl, f"response header #{i + 1}'s name")
            value = guest.text(vp, vl, f"response header #{i + 1}'s value")
            if not _TOKEN.fullmatch(name) or any(c in value for c in "\r\n\0"):
                raise AbiError(f"response header #{i + 1} {name[:40]!r} is not a valid HTTP header")
            out_headers.append((name, value))
    body_opt = _option(guest, raw[16:28], "body")
    out_body = guest.read(body_opt[0], body_opt[1], "the response body") if body_opt is not None else b""
    return WagiResponse(status, out_headers, out_body)


class SpinCoreExecutor:
    """Runs one Spin 0.x HTTP module per request (the `WagiRouteExecutor` seam: `handle(req, match)`)."""

    def __init__(self, runtime: Runtime, module: Compiled | str | Path, *, component_id: str,
                 limits: Limits | None = None, files_root: Path | None = None,
                 environment: Mapping[str, str] | None = None, config: Mapping[str, str] | None = None,
                 outbound: Any = None) -> None:
        self.runtime = runtime
        self.compiled = module if isinstance(module, Compiled) else runtime.load(module)
        self.component_id = component_id
        if self.compiled.kind != "module":
            raise ConfigError(f"component `{component_id}`: not a core module")
        _check_exports(self.compiled, component_id)
        self.limits = limits or Limits(timeout=30.0)
        self.dirs = [Preopen(files_root, "/", read_only=True)] if files_root is not None else []
        self.environment = dict(environment or {})
        imports = {(i.module, i.name or "") for i in self.compiled.module.imports}
        self.seen = CallState()
        self.linker = host_linker(runtime.engine, imports, self.seen, config=config or {}, policy=outbound)
        if HTTP_IMPORT in imports and outbound is None:
            raise ConfigError(f"component `{component_id}`: imports wasi-outbound-http but has no outbound policy")

    def handle(self, req: WagiRequest, match: RouteMatch) -> WagiResponse:
        """Serve one request in a fresh instance (never raises)."""
        where = f"component `{self.component_id}` (route {match.route.raw})"
        method = req.method.upper()
        if method not in METHODS:
            return WagiResponse(405, [("allow", ", ".join(METHODS))])
        headers = [(k.lower(), v) for k, v in req.headers]
        headers += match.spin_headers(full_url=req.full_url, client_addr=req.client_addr)
        raw = req.raw_path or req.path
        uri = raw + (f"?{req.query_string}" if req.query_string else "")
        sandbox = Sandbox(args=[self.component_id], env=self.environment, dirs=self.dirs, stdout="capture",
                          stderr="capture")
        inst = None
        self.seen.error = None
        self.seen.deadline = time.monotonic() + self.limits.timeout if self.limits.timeout is not None else None
        try:
            inst = self.runtime.instantiate(self.compiled, limits=self.limits, sandbox=sandbox, linker=self.linker)
            if inst.export("_initialize") is not None:  # a WASI reactor's constructors
                inst.call("_initialize")
            resp = call_handler(_Guest(inst), METHODS.index(method), uri, headers, req.body or None)
            if self.seen.error is None:
                return resp
            log.error("%s: %s", where, self.seen.error)
        except AbiError as e:
            log.error("%s: bad answer from %s: %s", where, EXPORT, e)
        except DeadlineExceeded as e:
            log.error("%s: %s", where, e)
            return WagiResponse(504, [("content-type", "text/plain")], b"")
        except (LimitExceeded, GuestError) as e:
            log.error("%s: guest failed: %s", where, e)
        except WasmhiveError as e:
            log.error("%s: %s", where, e)
        finally:
            if inst is not None:
                for stream in ("stdout", "stderr"):
                    text = getattr(inst, stream)().decode("utf-8", "replace")
                    for line in text.splitlines():
                        guest_line(self.component_id, stream, line)
                inst.close()
        return WagiResponse(500)
