"""`wasmhive watch` and `wasmhive build --up` pass every `up` option through, and `watch` takes its
server down with it (SIGTERM, SIGINT): the port is free afterwards. Real processes on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app_fixtures import free_port
from test_up_cli import make_app

pytest_plugins = ("http_fixtures",)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", *args],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/.well-known/wasmhive/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_watch_passes_up_options_and_stops_its_server(sig: int, tmp_path: Path, http_guest: Path,
                                                      compile_cache: Path) -> None:
    app = make_app(tmp_path / "app", http_guest)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "watch.log"
    env = {"WASMHIVE_CACHE": str(compile_cache)}
    proc = _start(["watch", str(app), "--interval", "0.2", "--listen", f"127.0.0.1:{port}", "--timeout", "1s",
                   "--env", "GREETING=through-watch", "-q", "--log-dir", str(tmp_path / "logs")], env, log)
    try:
        _wait_up(url, proc, log)
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/env").text.splitlines()[0] == "through-watch"
            assert c.get("/loop").status_code == 504
            assert c.get("/print").status_code == 200
        assert (tmp_path / "logs" / "guest_stdout.txt").read_text() == "hello on stdout\n"
        proc.send_signal(sig)
        assert proc.wait(timeout=30) in (0, 130)  # the timeout only guards against a hang
    finally:
        _stop(proc)
    assert _port_is_free(port), log.read_text()
    assert "ran past its 1s deadline" in log.read_text()


def test_watch_refuses_up_options_with_no_up(tmp_path: Path, http_guest: Path) -> None:
    app = make_app(tmp_path / "app", http_guest)
    r = subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "watch", str(app), "--no-up",
                        "--timeout", "1s"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and r.stderr == "error: --timeout is an `up` option; --no-up serves nothing\n"


def test_build_up_passes_up_options(tmp_path: Path, http_guest: Path, compile_cache: Path) -> None:
    app = make_app(tmp_path / "app", http_guest)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "build.log"
    proc = _start(["build", str(app), "--up", "--listen", f"127.0.0.1:{port}", "--env", "GREETING=through-build",
                   "--memory", "64MiB"], {"WASMHIVE_CACHE": str(compile_cache)}, log)
    try:
        _wait_up(url, proc, log)
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/env").text.splitlines()[0] == "through-build"
            assert c.get("/alloc", params={"mb": "100"}).status_code == 500
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    r = subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "build", str(app), "--env",
                        "A=1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 64 and r.stderr == "error: --env is an `up` option: add --up to serve after building\n"


def test_a_killed_watch_does_not_orphan_its_server(tmp_path: Path, http_guest: Path, compile_cache: Path) -> None:
    """Even SIGKILL (no handler runs): the server gets a parent-death signal and releases the port."""
    app = make_app(tmp_path / "app", http_guest)
    port = free_port()
    log = tmp_path / "watch.log"
    proc = _start(["watch", str(app), "--listen", f"127.0.0.1:{port}"], {"WASMHIVE_CACHE": str(compile_cache)}, log)
    try:
        _wait_up(f"http://127.0.0.1:{port}", proc, log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30  # only against a hang: the server shuts down gracefully
        while not _port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _stop(proc)
    assert _port_is_free(port), log.read_text()
