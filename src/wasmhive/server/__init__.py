"""The `wasmhive up` server: uvicorn, in one process or several, over a single `wasi:http` component or
a whole app (and the contract VM's API when asked for).

It composes the layers below it (the HTTP trigger, the app platform, the contract VM), so it sits above
all of them and below the CLI.

>>> from wasmhive.server import UpConfig, serve
>>> serve(UpConfig(path="hello.wasm", listen="127.0.0.1:3000"))   # doctest: +SKIP
"""

from ._serve import UpConfig, build_app, serve

__all__ = ["UpConfig", "build_app", "serve"]
