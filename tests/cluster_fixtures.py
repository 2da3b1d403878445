"""Helpers for the cluster tests: a real `wasmhive up` process on loopback, started and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

READY = "/.well-known/wasmhive/ready"
LIVE = "/.well-known/wasmhive/live"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UpProcess:
    """A running `wasmhive up`: its process, base URL and log file."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Poll the readiness path until it answers 200 (the process must not die meanwhile)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + READY, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.log_text()
            assert time.monotonic() < deadline, "wasmhive up did not become ready\n" + self.log_text()
            time.sleep(0.1)

    def term(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM) if self.proc.poll() is None else None


@contextlib.contextmanager
def wasmhive_up(args: list[str], log: Path, env: dict[str, str] | None = None,
                url: str | None = None) -> Iterator[UpProcess]:
    """Start `wasmhive up ARGS` (in its own session, output to `log`); kill whatever is left at the end."""
    exe = Path(sys.executable).parent / "wasmhive"
    listen = args[args.index("--listen") + 1]
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "up", *args], env={**os.environ, **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield UpProcess(proc, url or f"http://{listen}", log)
    finally:
        # SIGTERM first, so the server cleans up after itself (its private metrics directory); SIGKILL
        # what is left.
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def up_guest(guest: Path, compile_cache: Path, tmp_path: Path, *options: str,
             env: dict[str, str] | None = None) -> contextlib.AbstractContextManager[UpProcess]:
    """`wasmhive up GUEST OPTIONS` on a free loopback port, with the session's compile cache and a state
    directory under `tmp_path`; its output goes to `tmp_path/up.log`."""
    args = [str(guest), "--listen", f"127.0.0.1:{free_port()}", *options]
    base = {"WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp_path)}
    return wasmhive_up(args, tmp_path / "up.log", {**base, **(env or {})})


def up_without(package: str, guest: Path, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`wasmhive up GUEST OPTIONS` as if the top-level `package` were not installed (a package of that name
    that fails to import comes first on the path); returns the finished process."""
    shadow = tmp_path / "shadow" / package
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])}
    exe = Path(sys.executable).parent / "wasmhive"
    return subprocess.run([str(exe), "up", str(guest), "--listen", "127.0.0.1:1", *options],
                          env=env, capture_output=True, text=True, timeout=60)
