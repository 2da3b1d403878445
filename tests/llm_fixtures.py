"""Fixtures for the LLM tests: a loopback HTTP server speaking Spin's `remote_http` LLM protocol, and
the spin-sdk LLM test app (`tests/app/llm`) built once per session."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app_fixtures import build_spin_sdk_app

TOKEN = "s3cret-token"


@dataclass
class Received:
    """One request the remote LLM server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class RemoteLlm:
    """A real HTTP server on a free loopback port answering like a Spin remote_http LLM backend:
    `/infer` echoes the prompt (with counted words), `/embed` answers [len(text), words] per text."""

    url: str
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    peak: list[int] = field(default_factory=lambda: [0, 0])  # [in flight now, most ever in flight]

    def stop(self) -> None:
        self.server.shutdown()  # waits for no handler: a sleeping one ends within 10 s by itself
        self.server.server_close()


def _handler(state: list[Received], peak: list[int]) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            body = json.loads(raw)
            state.append(Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if self.headers.get("authorization") != f"bearer {TOKEN}":
                return self._send(401, {"error": "unauthorized"})
            if self.path == "/infer" and body["prompt"].startswith("sleep:"):
                # A slow model: holds the request (at most 10 s), counting how many are in flight.
                with lock:
                    peak[0] += 1
                    peak[1] = max(peak)
                time.sleep(min(float(body["prompt"][6:]), 10.0))
                with lock:
                    peak[0] -= 1
            if self.path == "/infer":
                words = len(body["prompt"].split())
                out = {"text": f"echo: {body['prompt']}", "usage": {"promptTokenCount": words,
                                                                  "generatedTokenCount": words + 1}}
            elif self.path == "/embed":
                out = {"embeddings": [[float(len(t)), float(len(t.split()))] for t in body["input"]],
                       "usage": {"promptTokenCount": sum(len(t.split()) for t in body["input"])}}
            else:
                return self._send(404, {"error": "no such path"})
            self._send(200, out)

        def _send(self, status: int, doc: Any) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def remote_llm() -> Iterator[RemoteLlm]:
    """A running Spin-protocol LLM server; stopped after the test."""
    received: list[Received] = []
    peak = [0, 0]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received, peak))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    remote = RemoteLlm(f"http://127.0.0.1:{server.server_address[1]}", server, received, peak)
    try:
        yield remote
    finally:
        remote.stop()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def llm_app_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spin-sdk LLM guest (`tests/app/llm/app.py`), built once."""
    out = tmp_path_factory.mktemp("llm-wasm")
    shutil.copy(Path(__file__).parent / "app" / "llm" / "app.py", out / "app.py")
    return build_spin_sdk_app(out / "app.py", out / "app.wasm")


def llm_app(dest: Path, wasm: Path, runtime_config: str | None = None) -> Path:
    """The LLM test app in `dest` (its spin.toml and the built guest), with an operator runtime config
    file beside it when given; returns the spin.toml."""
    here = Path(__file__).parent / "app" / "llm"
    shutil.copy(here / "spin.toml", dest / "spin.toml")
    shutil.copy(wasm, dest / "app.wasm")
    if runtime_config is not None:
        (dest / "operator-rc.toml").write_text(runtime_config)
    return dest / "spin.toml"
