"""A loopback HTTP server for outbound-request tests: it records each request it receives (head, body,
when each body piece arrived; bodies framed by content-length or chunked) and answers
"METHOD FRAMING BODY", FRAMING being `chunked` or `cl=<content-length>`."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest


class Received:
    """What the target server saw of the last request: head, body, when each body piece arrived."""

    def __init__(self) -> None:
        self.method = ""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.arrivals: list[float] = []
        self.done = threading.Event()


@pytest.fixture(scope="session")
def target() -> Iterator[tuple[str, list[Received]]]:
    """A loopback server reading request bodies by content-length or chunked framing, piece by piece;
    it answers `METHOD FRAMING BODY`, on paths starting with `/slow-body` with the body 300 ms after the head."""
    seen: list[Received] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            rec = Received()
            rec.method, rec.headers = self.command, {k.lower(): v for k, v in self.headers.items()}
            seen.append(rec)
            try:
                complete = self._read_body(rec)
            except (ValueError, OSError):
                complete = False
            if not complete:  # the client gave up mid-body (a guest's aborted body): nothing to answer
                self.close_connection = True
                rec.done.set()
                return
            framing = "chunked" if "transfer-encoding" in rec.headers else f"cl={rec.headers.get('content-length')}"
            out = f"{self.command} {framing} {rec.body.decode()}".encode()
            self.send_response(200)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            if self.path.startswith("/slow-body"):  # the head first, the body 300 ms later
                self.wfile.flush()
                time.sleep(0.3)
            self.wfile.write(out)
            rec.done.set()

        def _read_body(self, rec: Received) -> bool:
            if rec.headers.get("transfer-encoding") == "chunked":
                while (size := int(self.rfile.readline().strip(), 16)) > 0:
                    rec.body += self.rfile.read(size)
                    rec.arrivals.append(time.monotonic())
                    self.rfile.readline()
                self.rfile.readline()
                return True
            left = int(rec.headers.get("content-length", "0"))
            while left > 0:
                piece = self.rfile.read1(left)  # type: ignore[attr-defined]
                if not piece:
                    return False
                rec.body += piece
                rec.arrivals.append(time.monotonic())
                left -= len(piece)
            return True

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
