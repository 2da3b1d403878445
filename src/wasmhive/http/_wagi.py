"""The WAGI executor: plain WASI command modules served CGI-style (CGI/1.1 over WASI stdio).

The request body is the guest's stdin; the CGI/1.1 environment and Spin's `X_*` route values are its
environment; argv is built from the route's `argv` template (`${SCRIPT_NAME} ${ARGS}` by default, where
ARGS are the query string's `&`-separated parts, URL-decoded). The guest's stdout is parsed as a CGI
response: headers, a blank line, the body; `Status:` sets the status and a `Location:` alone means 302.
Empty or malformed output is a 500 with a log line naming the component and route. Every request runs
in a fresh instance with the component's limits.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from .._version import __version__
from ..errors import ConfigError, DeadlineExceeded, GuestError, LimitExceeded, WasmhiveError
from ..runtime import Compiled, Limits, Preopen, Runtime, Sandbox
from ._logs import guest_line
from ._router import Route, RouteMatch

__all__ = ["CgiError", "WagiExecutor", "WagiRequest", "WagiResponse", "WagiRouteExecutor", "build_argv",
           "parse_cgi_output"]

log = logging.getLogger("wasmhive.http.wagi")

_SKIP_HEADERS = {"authorization", "proxy-authorization", "connection"}  # never handed to CGI scripts


class CgiError(ValueError):
    """The guest's stdout is not a CGI response."""


@dataclass
class WagiRequest:
    """What the executor needs from an HTTP request (the trigger fills it from ASGI)."""

    method: str
    path: str
    query_string: str = ""
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    scheme: str = "http"
    server_name: str = "127.0.0.1"
    server_port: int = 3000
    client_addr: str = "127.0.0.1:0"
    http_version: str = "1.1"
    raw_path: str = ""  # the path as the client sent it (percent-encoded); Spin 0.x modules get it in `uri`

    @property
    def full_url(self) -> str:
        default = (self.scheme == "http" and self.server_port == 80) or (self.scheme == "https"
                                                                          and self.server_port == 443)
        host = self.server_name if default else f"{self.server_name}:{self.server_port}"
        return f"{self.scheme}://{host}{self.path}" + (f"?{self.query_string}" if self.query_string else "")


@dataclass
class WagiResponse:
    """A CGI response: status, headers (in order), body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def build_argv(template: str, script_name: str, query_string: str) -> list[str]:
    """argv as Spin builds it: substitute `${SCRIPT_NAME}` and `${ARGS}`, then split on spaces."""
    args = " ".join(unquote(a.replace("+", " ")) for a in query_string.split("&") if a) if query_string else ""
    text = template.replace("${SCRIPT_NAME}", script_name).replace("${ARGS}", args)
    return [a for a in text.split(" ") if a]


def parse_cgi_output(out: bytes) -> WagiResponse:
    """Parse a CGI response (RFC 3875 §6): header lines, a blank line, the body."""
    if not out:
        raise CgiError("the guest wrote nothing to stdout")
    m = re.search(rb"\r?\n\r?\n", out)
    if m is None:
        raise CgiError("no blank line after the CGI headers")
    head, body = out[:m.start()], out[m.end():]
    status: int | None = None
    headers: list[tuple[str, str]] = []
    location = False
    for raw in re.split(rb"\r?\n", head):
        name, sep, value = raw.decode("latin-1").partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise CgiError(f"malformed CGI header line {raw[:80]!r}")
        low = name.lower()
        if low == "status":
            code = value.split(" ", 1)[0]
            if not code.isdigit() or not 100 <= int(code) <= 599:
                raise CgiError(f"bad Status header {value!r}")
            status = int(code)
        else:
            if low == "location":
                location = True
            headers.append((name, value))
    if status is None:
        status = 302 if location else 200
    return WagiResponse(status, headers, body)


class WagiExecutor:
    """Runs one WAGI route's module per request. Thread-safe; `handle` blocks (call it off the event loop).

    `files_root` is the component's staged files directory (mounted read-only at `/`), `environment`
    its manifest `environment`.
    """

    def __init__(self, runtime: Runtime, module: Compiled | str | Path, *, component_id: str,
                 argv: str = "${SCRIPT_NAME} ${ARGS}", entrypoint: str = "_start", limits: Limits | None = None,
                 files_root: Path | None = None, environment: Mapping[str, str] | None = None,
                 tee: Any = None) -> None:
        self.runtime = runtime
        self.compiled = module if isinstance(module, Compiled) else runtime.load(module)
        if self.compiled.kind != "module":
            raise WasmhiveError(f"component `{component_id}`: the wagi executor runs WASI command modules "
                                "(core modules); this is a component: use executor type \"http\"")
        if entrypoint != "_start":
            raise ConfigError(f"component `{component_id}`: wagi entrypoint {entrypoint!r} is not supported "
                              "(only `_start`, the WASI command entry point)")
        self.component_id = component_id
        self.argv = argv
        self.entrypoint = entrypoint
        self.limits = limits or Limits(timeout=30.0)
        self.dirs = [Preopen(files_root, "/", read_only=True)] if files_root is not None else []
        self.environment = dict(environment or {})
        self.tee = tee  # a `wasmhive.tee.TeeGuest` when sealing/attestation is granted: link `wasmhive_tee`

    def cgi_env(self, req: WagiRequest, match: RouteMatch) -> dict[str, str]:
        """The CGI/1.1 environment for `req` (component `environment` first, so CGI values win)."""
        route = match.route
        script_name = route.full[:-4] if route.wildcard and route.full != "/..." else (
            "" if route.full == "/..." else route.full)
        env = dict(self.environment)
        env.update({
            "AUTH_TYPE": "",
            "CONTENT_LENGTH": str(len(req.body)),
            "CONTENT_TYPE": next((v for k, v in req.headers if k.lower() == "content-type"), ""),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "PATH_INFO": match.path_info,
            "PATH_TRANSLATED": match.path_info,
            "QUERY_STRING": req.query_string,
            "REMOTE_ADDR": req.client_addr.rsplit(":", 1)[0],
            "REMOTE_HOST": req.client_addr.rsplit(":", 1)[0],
            "REMOTE_USER": "",
            "REQUEST_METHOD": req.method.upper(),
            "SCRIPT_NAME": script_name,
            "SERVER_NAME": req.server_name,
            "SERVER_PORT": str(req.server_port),
            "SERVER_PROTOCOL": f"HTTP/{req.http_version}",
            "SERVER_SOFTWARE": f"wasmhive/{__version__} (WAGI/1)",
        })
        env.update(match.cgi_values(full_url=req.full_url, client_addr=req.client_addr))
        for name, value in req.headers:
            low = name.lower()
            if low in _SKIP_HEADERS or low in ("content-type", "content-length"):
                continue
            key = "HTTP_" + low.upper().replace("-", "_")
            env[key] = f"{env[key]}, {value}" if key in env else value
        return env

    def handle(self, req: WagiRequest, match: RouteMatch) -> WagiResponse:
        """Run the module for one request and turn its stdout into a response (never raises)."""
        where = f"component `{self.component_id}` (route {match.route.raw})"
        script_name = match.route.full[:-4] if match.route.wildcard else match.route.full
        sandbox = Sandbox(
            args=build_argv(self.argv, script_name or "/", req.query_string),
            env=self.cgi_env(req, match),
            dirs=self.dirs,
            stdin=req.body,
            stdout="capture",
            stderr="capture",
        )
        t0 = time.perf_counter()
        try:
            if self.tee is None:
                result = self.runtime.run(self.compiled, sandbox=sandbox, limits=self.limits)
            else:
                from ..tee import run_command

                result = run_command(self.runtime, self.compiled, self.tee.for_measurement, sandbox=sandbox,
                                     limits=self.limits)
        except DeadlineExceeded as e:
            log.error("%s: %s", where, e)
            return WagiResponse(504, [("content-type", "text/plain")], b"")
        except (LimitExceeded, GuestError) as e:
            log.error("%s: guest failed: %s", where, e)
            return WagiResponse(500)
        except WasmhiveError as e:
            log.error("%s: %s", where, e)
            return WagiResponse(500)
        if result.stderr:
            for line in result.stderr.decode("utf-8", "replace").splitlines():
                guest_line(self.component_id, "stderr", line)
        try:
            resp = parse_cgi_output(result.stdout)
        except CgiError as e:
            log.error("%s: malformed CGI output (exit code %d, %d bytes): %s", where, result.exit_code,
                      len(result.stdout), e)
            return WagiResponse(500)
        if result.exit_code != 0:
            log.warning("%s: module exited with status %d", where, result.exit_code)
        log.debug("%s: %d in %.1f ms", where, resp.status, (time.perf_counter() - t0) * 1e3)
        return resp


class ModuleExecutor(Protocol):
    """What `WagiRouteExecutor` drives: a `WagiExecutor`, or a Spin 0.x module's (`_spin_core.py`)."""

    component_id: str
    limits: Limits

    def handle(self, req: WagiRequest, match: RouteMatch) -> WagiResponse:
        """Serve one buffered request (never raises)."""


class WagiRouteExecutor:
    """A `WagiExecutor` bound to its route, serving the HTTP trigger's `Exchange` (the `Executor` seam).

    It reads the route match the trigger made (`Exchange.match`) and passes Spin's values as CGI
    variables, so it wants no `spin-*` request headers (`spin_headers = False`)."""

    spin_headers = False

    def __init__(self, executor: ModuleExecutor, route: Route, *, body_limit: int | None = 10 * 1000 * 1000) -> None:
        self.executor = executor
        self.route = route
        self.name = executor.component_id
        self.body_limit = body_limit

    def _read_body(self, ex: Any) -> bytes | None:
        """The whole request body (CGI wants it on stdin before the module starts); None if too large."""
        from ..wasi import IoError, StreamClosed

        timeout = self.executor.limits.timeout
        deadline = time.monotonic() + timeout if timeout is not None else None

        def remaining() -> float | None:
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request body not received before the deadline")
            return left

        parts: list[bytes] = []
        size = 0
        while True:
            try:
                ex.body.wait_ready(ex.waker, remaining)
                chunk = ex.body.read(64 * 1024)
            except StreamClosed:
                return b"".join(parts)
            except IoError as e:
                raise TimeoutError(str(e)) from None
            size += len(chunk)
            if self.body_limit is not None and size > self.body_limit:
                return None
            parts.append(chunk)

    def run(self, ex: Any) -> None:
        """Serve one exchange (worker thread); never raises."""
        req = ex.request
        try:
            body = self._read_body(ex)
        except TimeoutError as e:
            log.error("component `%s` (route %s): %s", self.name, self.route.raw, e)
            ex.respond(408, [], b"")
            return
        if body is None:
            ex.respond(413, [], b"")
            return
        path = unquote(req.path)
        match = ex.match if isinstance(ex.match, RouteMatch) else _match(self.route, path)
        host, _, port = req.authority.rpartition(":") if ":" in req.authority.rsplit("]", 1)[-1] else (
            req.authority, "", "")
        wreq = WagiRequest(req.method, path, req.query, [(k, v) for k, v in req.headers if not k.startswith("spin-")],
                           body, req.scheme, host or "127.0.0.1", int(port) if port.isdigit() else (
                               443 if req.scheme == "https" else 80), req.client, req.http_version, req.path)
        resp = self.executor.handle(wreq, match)
        ex.respond(resp.status, [(k.lower(), v.encode("latin-1")) for k, v in resp.headers], resp.body)


def _match(route: Route, path: str) -> RouteMatch:
    """`path` matched to `route` (for an exchange the trigger did not route, e.g. a direct call)."""
    return RouteMatch(route, path, route.match([s for s in path.split("/") if s]) or {})
