"""Structured logs for `wasmhive up --log-format json`: one JSON object per line, with request ids.

Every record of every process (wasmhive's, uvicorn's, each worker's) becomes
`{"ts": "2026-12-03T17:05:50.123Z", "level": "INFO", "logger": "...", "msg": "...", "pid": 123, ...}`.
Records written while the event loop serves a request (the access line, contract and health answers)
carry that request's `request_id`: the client's `x-request-id` when it sent a sane one, otherwise a new
random id; the response carries it back in `x-request-id`, so a client, the load balancer and the log
agree on it. Records written on guest threads (a trap's reason) name the component, route and path
instead: the id does not cross into the thread pool.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["JsonFormatter", "RequestIds", "log_config"]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("wasmhive_request_id", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")  # an id a client may choose: no spaces, quotes, controls

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class JsonFormatter(logging.Formatter):
    """A `logging.Formatter` writing one JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out: dict[str, Any] = {"ts": ts, "level": record.levelname, "logger": record.name,
                               "msg": record.getMessage(), "pid": record.process}
        if record.name == "wasmhive.http.access" and isinstance(record.args, tuple) and len(record.args) == 8:
            # The access line's values as fields too (HttpApp._access: component, client, method, target,
            # version, status, bytes, ms), so a log query need not parse the message.
            keys = ("component", "client", "method", "target", "http_version", "status", "bytes", "duration_ms")
            out.update(zip(keys, record.args, strict=True))
        rid = _request_id.get()
        if rid is not None:
            out["request_id"] = rid
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def log_config(level: str = "info") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn's `log_config`: JSON on stderr for every logger, in the
    supervisor and in each worker process (uvicorn applies it in both)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": lvl},
        # uvicorn's loggers log through the root handler (no own handlers, no double lines).
        "loggers": {name: {"handlers": [], "level": lvl, "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure(level: str = "info") -> None:
    """Apply `log_config` to this process now (for what is logged before the server starts)."""
    import logging.config

    logging.config.dictConfig(log_config(level))


class RequestIds:
    """ASGI wrapper giving each HTTP request an id (the client's `x-request-id` if sane) for log records
    written while it is served, and returning it in the response's `x-request-id` header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == b"x-request-id"), b"").decode("latin-1")
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token = _request_id.set(rid)
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*(h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"),
                                      header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)
