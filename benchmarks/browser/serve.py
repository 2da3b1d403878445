"""Serve the browser benchmark page on loopback: the page, the JS workloads, the two Wasm builds.

The page posts its results table back to `POST /results`; `server.results` holds the last one and
`server.got_results` is set (the headless-browser test waits on it; `wasmhive bench --serve` prints it).
"""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
JS = BENCH / "compute" / "js"
TYPES = {".html": "text/html; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
         ".wasm": "application/wasm"}


class BenchServer(ThreadingHTTPServer):
    """A static server over a fixed route table (nothing else on disk is reachable)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: dict[str, Path], echo: bool = False) -> None:
        super().__init__(address, Handler)
        self.routes = routes
        self.echo = echo
        self.results: dict[str, Any] | None = None
        self.got_results = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: BenchServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints what matters
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        file = self.server.routes.get(path)
        if file is None or not file.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = file.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", TYPES.get(file.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.path != "/results":
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        size = int(self.headers.get("Content-Length", "0"))
        if size > 1 << 20:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        try:
            self.server.results = json.loads(self.rfile.read(size))
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST)
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self.end_headers()
        self.server.got_results.set()
        if self.server.echo and self.server.results:
            for row in self.server.results.get("rows", []):
                print(" | ".join(row), flush=True)


def routes() -> dict[str, Path]:
    """URL path → file. The Wasm builds come from the (cached) zig builds of the compute benchmark."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    import compute

    table = {"/": HERE / "index.html", "/app.mjs": HERE / "app.mjs",
             "/wasm/compute.wasm": compute.build_wasm(False), "/wasm/compute-simd.wasm": compute.build_wasm(True),
             "/js/pako.mjs": JS / "node_modules" / "pako" / "dist" / "pako.esm.mjs"}
    for name in ("matmul", "png", "aes", "sha256"):
        table[f"/js/{name}.mjs"] = JS / f"{name}.mjs"
    compute.ensure_pako()
    return table


def make_server(host: str = "127.0.0.1", port: int = 0, echo: bool = True) -> BenchServer:
    """A server bound to (host, port); call `serve_forever()` (or run it in a thread)."""
    return BenchServer((host, port), routes(), echo=echo)
