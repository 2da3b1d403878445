"""Fixtures for the Redis tests: a redis-server this test module owns (stopped and restarted at will) and
spin-sdk guests built for any of spin-sdk's worlds (`spin-http`, `spin-redis`, `spin-all`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_fixtures import SPIN_SDK, free_port, spin_sdk_python


class RedisServer:
    """A real redis-server (Debian's) on one loopback port with its own directory; `stop()`/`start()`
    keep the port, so clients see a server going down and coming back."""

    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed (apt-get install -y redis-server; .ci/run does this)")
        self.exe = exe
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self) -> object:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=10)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for one test module; tests may stop and restart it (it is started again if needed)."""
    server = RedisServer(tmp_path_factory.mktemp("redis-server")).start()
    try:
        yield server
    finally:
        server.stop()


def build_spin_sdk_world(app_py: Path, out: Path, world: str) -> Path:
    """Build a spin-sdk Python app for `world` with the spin venv's componentize-py, cached."""
    from wasmhive.app.toolchains import build_cached

    py = spin_sdk_python()

    def build(dest: Path) -> None:
        # componentize-py finds spin-sdk's WIT through the environment it runs in: put the venv first.
        env = {**os.environ, "PATH": f"{py.parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "VIRTUAL_ENV": str(py.parent.parent)}
        proc = subprocess.run([str(py.parent / "componentize-py"), "-w", world, "componentize", app_py.stem,
                               "-p", str(app_py.parent), "-o", str(dest)], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"spin-sdk build failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")

    built = build_cached(f"spin-sdk-{world}", [app_py], build, flags=SPIN_SDK)
    shutil.copyfile(built, out)
    return out


def redis_app(name: str, dest: Path, world: str = "spin-http") -> Path:
    """The guest `tests/app/<name>` (app.py + spin.toml) copied to `dest` and built; its `spin.toml`. Built
    from its place in the tree (the build cache's key includes paths, so it is reused across sessions)."""
    here = Path(__file__).parent / "app" / name
    for f in ("spin.toml", "app.py"):
        shutil.copy(here / f, dest / f)
    build_spin_sdk_world(here / "app.py", dest / "app.wasm", world)
    return dest / "spin.toml"
