"""The HTTP trigger: `wasi:http` components (and WAGI modules) served as an ASGI application.

>>> from wasmhive.http import HttpApp, Request
>>> app = HttpApp.from_component("hello.wasm")     # one component on /...
>>> app.handle(Request("GET", "/hello")).status     # socket-free
200

Serve it with uvicorn (`wasmhive up hello.wasm`, `wasmhive.server.serve`), or mount `app.asgi()` in Starlette/FastAPI.
"""

from ._app import HttpApp, ServerLimits
from ._executor import HttpContext, WasiHttpExecutor
from ._types import Exchange, Executor, Request, Response

__all__ = [
    "Exchange",
    "Executor",
    "HttpApp",
    "HttpContext",
    "Request",
    "Response",
    "ServerLimits",
    "WasiHttpExecutor",
]
