"""Remote component sources (`source = { url, digest }`): downloaded once into the source cache from a
loopback HTTP server, verified by digest, re-verified on use; refused when anything is off."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server, spin_sdk_example
from wasmhive.app import _remote, parse_manifest
from wasmhive.errors import ConfigError


@dataclass
class Origin:
    """A loopback HTTP server with the component at /app.wasm (also /slow.wasm, /stall.wasm, /redirect)."""

    url: str
    body: bytes
    hits: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def spin_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return spin_sdk_example(tmp_path_factory.mktemp("spinsdk")).parent


@pytest.fixture(scope="module")
def origin(spin_app: Path) -> Iterator[Origin]:
    body = (spin_app / "app.wasm").read_bytes()
    state = Origin("", body)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] += 1
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "ftp://127.0.0.1/x.wasm")  # urllib would follow it
                self.end_headers()
                return
            if self.path == "/nolength.wasm":  # no Content-Length: the size shows only while reading
                self.send_response(200)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)
                return
            if self.path not in ("/app.wasm", "/slow.wasm", "/stall.wasm"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path == "/stall.wasm":
                self.wfile.write(body[:1000])
                self.wfile.flush()
                time.sleep(3)
                return
            step = len(body) // 3 + 1 if self.path == "/slow.wasm" else len(body)
            try:
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                    if self.path == "/slow.wasm":
                        time.sleep(0.8)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (the size limit)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def remote_app(spin_app: Path, dest: Path, url: str, digest: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    text = (spin_app / "spin.toml").read_text().replace('source = "app.wasm"',
                                                         f'source = {{ url = "{url}", digest = "{digest}" }}')
    assert "digest" in text
    (dest / "spin.toml").write_text(text)
    return dest / "spin.toml"


def test_downloaded_once_verified_and_served(spin_app: Path, origin: Origin, tmp_path: Path) -> None:
    cache = tmp_path / "sources"
    digest = digest_of(origin.body)
    manifest = remote_app(spin_app, tmp_path / "app", f"{origin.url}/app.wasm", digest)
    before = origin.hits["/app.wasm"]
    for round_ in range(3):
        if round_ == 2:  # a cached copy that no longer matches is fetched again
            (cache / f"sha256-{digest[7:]}.wasm").write_bytes(b"\0asm tampered")
        server = Server(manifest, env={"WASMHIVE_SOURCE_CACHE": str(cache)}).wait()
        try:
            r = httpx.get(f"{server.url}/spin/a", timeout=30)
            assert r.status_code == 200 and r.text.endswith(" GET /a"), server.output()
        finally:
            server.kill()
        assert origin.hits["/app.wasm"] - before == (1 if round_ < 2 else 2)
    assert [p.name for p in cache.iterdir()] == [f"sha256-{digest[7:]}.wasm"]
    assert (cache / f"sha256-{digest[7:]}.wasm").read_bytes() == origin.body


def test_a_digest_mismatch_refuses_start_up_and_caches_nothing(spin_app: Path, origin: Origin, tmp_path: Path) -> None:
    cache = tmp_path / "sources"
    wrong = digest_of(b"something else")
    manifest = remote_app(spin_app, tmp_path / "app", f"{origin.url}/app.wasm", wrong)
    proc = subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", str(manifest),
                           "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "WASMHIVE_SOURCE_CACHE": str(cache)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 64 and "Traceback" not in out, out
    assert f"has digest {digest_of(origin.body)}, but the manifest expects {wrong} (nothing was cached)" in out
    assert list(cache.iterdir()) == []


def test_download_failures_are_one_line_errors(origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMHIVE_SOURCE_CACHE", str(tmp_path))
    digest = digest_of(origin.body)
    with pytest.raises(ConfigError, match=r"is \d+ bytes, more than the 1000-byte limit"):
        _remote.fetch_source(f"{origin.url}/app.wasm", digest, max_bytes=1000)
    with pytest.raises(ConfigError, match="is more than the 1000-byte limit"):
        _remote.fetch_source(f"{origin.url}/nolength.wasm", digest, max_bytes=1000)
    with pytest.raises(ConfigError, match="HTTP 404"):
        _remote.fetch_source(f"{origin.url}/missing.wasm", digest)
    with pytest.raises(ConfigError, match=re.escape("redirect to 'ftp://127.0.0.1/x.wasm' refused")):
        _remote.fetch_source(f"{origin.url}/redirect", digest)
    with pytest.raises(ConfigError, match="must be http:// or https://"):
        _remote.fetch_source("file:///etc/passwd", digest)
    monkeypatch.setattr(_remote, "SOCKET_TIMEOUT", 0.5)  # the server stalls for 3 s mid-body
    with pytest.raises(ConfigError, match="timed out"):
        _remote.fetch_source(f"{origin.url}/stall.wasm", digest)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_a_slow_download_reports_progress(origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMHIVE_SOURCE_CACHE", str(tmp_path))
    lines: list[str] = []
    path = _remote.fetch_source(f"{origin.url}/slow.wasm", digest_of(origin.body), progress=lines.append)
    assert path.read_bytes() == origin.body
    assert lines and all(ln.startswith(f"downloading {origin.url}/slow.wasm: ") for ln in lines), lines
    assert lines[-1].endswith(f" of {len(origin.body) / 1e6:.1f} MB")


@pytest.mark.parametrize(("source", "message"), [
    ('{ registry = "fermyon.com", package = "a:b", version = "1.0.0" }', "registry sources .* are not supported"),
    ('{ url = "file:///x.wasm", digest = "sha256:' + "0" * 64 + '" }', "must be an http:// or https:// URL"),
    ('{ url = "https://example.com/x.wasm", digest = "md5:abc" }', "must be \"sha256:<64 lowercase hex digits>\""),
    ('{ url = "https://example.com/x.wasm" }', "a remote source is"),
])
def test_manifest_checks_remote_sources(tmp_path: Path, source: str, message: str) -> None:
    text = f'spin_manifest_version = 2\n[application]\nname = "x"\n[[trigger.http]]\nroute = "/..."\n' \
           f'component = "c"\n[component.c]\nsource = {source}\n'
    with pytest.raises(ConfigError, match=message):
        parse_manifest(text, tmp_path / "spin.toml")


def test_cli_shows_download_progress(spin_app: Path, origin: Origin, tmp_path: Path) -> None:
    manifest = remote_app(spin_app, tmp_path / "app", f"{origin.url}/slow.wasm", digest_of(origin.body))
    server = Server(manifest, env={"WASMHIVE_SOURCE_CACHE": str(tmp_path / "sources")}).wait()
    try:
        assert "downloading " + origin.url + "/slow.wasm" in server.output()
    finally:
        server.kill()
    shutil.rmtree(tmp_path / "sources")
