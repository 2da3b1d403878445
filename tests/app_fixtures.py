"""Fixtures for the app-platform tests: manifests written to tmp dirs, a real redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmhive.app import AppConfig, RuntimeOptions, parse_manifest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_app(tmp: Path, manifest: str, *, name: str = "wasmhive.toml", files: dict[str, str | bytes] | None = None,
              runtime: RuntimeOptions | None = None) -> AppConfig:
    """Write a manifest (and files) into `tmp` and parse it."""
    tmp.mkdir(parents=True, exist_ok=True)
    for rel, content in (files or {}).items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp / name).write_text(manifest)
    cfg = parse_manifest(manifest, tmp / name)
    if runtime is not None:
        cfg.runtime = runtime
    return cfg


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port for this test session (Debian `redis-server`)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server; .ci/run does this)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir), "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app"


def copy_example(dest: Path) -> Path:
    """A copy of examples/app (sources only) to build and serve in a test."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("*.wasm", "deps", ".wasmhive", "__pycache__"))
    return dest


def build_example(app_dir: Path) -> None:
    """Build the example's two components with the cached toolchain helpers (same commands as its
    manifest: witdeps + componentize-py, zig cc). The Python build runs in a fixed directory so its cache
    key (which includes paths) is the same in every session."""
    from wasmhive.app.toolchains import componentize_py, zig_cc
    from wasmhive.app.witdeps import ensure_wit_deps

    stable = Path(__file__).resolve().parent / ".guest-cache" / "example-counter"
    (stable / "wit").mkdir(parents=True, exist_ok=True)
    for rel in ("app.py", "wit/app.wit"):
        data = (app_dir / "counter" / rel).read_bytes()
        if not (stable / rel).is_file() or (stable / rel).read_bytes() != data:
            (stable / rel).write_bytes(data)
    wit = ensure_wit_deps(stable / "wit", ["wasi:http@0.2.0", "fermyon:spin@2.0.0"])
    componentize_py(wit, "app", stable / "app.py", app_dir / "counter" / "app.wasm")
    zig_cc(app_dir / "cgi" / "cgi.c", app_dir / "cgi" / "cgi.wasm")


class Server:
    """`wasmhive up` in a subprocess on a free loopback port; `url` is its base URL."""

    def __init__(self, path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        import os
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = path.parent / f"server-{self.port}.log" if path.is_file() else path / f"server-{self.port}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from wasmhive.cli import main; main()", "up", str(path), "--listen",
             f"127.0.0.1:{self.port}", *args],
            stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait(self, timeout: float = 60.0) -> Server:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if httpx.get(self.url + "/.well-known/wasmhive/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def kill(self, sig: int = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


SPIN_SDK = ("spin-sdk==3.4.1", "componentize-py==0.17.2")


def spin_sdk_python() -> Path:
    """A Python with spin-sdk 3.4.1 and componentize-py 0.17.2, in its own venv (never the project's: spin-sdk's
    componentize-py.toml breaks every other componentize-py build). Created once under tests/.guest-cache."""
    import sys

    venv = Path(__file__).resolve().parent / ".guest-cache" / "spin-venv"
    py = venv / "bin" / "python"
    marker = venv / ".complete"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *SPIN_SDK],
                       check=True)
        marker.write_text("\n".join(SPIN_SDK))
    return py


def build_spin_sdk_app(app_py: Path, out: Path) -> Path:
    """Build a spin-sdk Python app (world `spin-http`) with the spin venv's componentize-py, cached."""
    from wasmhive.app.toolchains import build_cached

    py = spin_sdk_python()

    def build(dest: Path) -> None:
        import os

        # componentize-py finds spin-sdk's WIT through the environment it runs in: put the venv first.
        env = {**os.environ, "PATH": f"{py.parent}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(py.parent.parent)}
        proc = subprocess.run([str(py.parent / "componentize-py"), "-w", "spin-http", "componentize", app_py.stem,
                               "-p", str(app_py.parent), "-o", str(dest)], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"spin-sdk build failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")

    built = build_cached("spin-sdk-componentize-py", [app_py], build, flags=SPIN_SDK)
    shutil.copyfile(built, out)
    return out


def spin_sdk_example(dest: Path) -> Path:
    """The spin-sdk test app (`tests/app/spinsdk`: key-value, variables) copied to `dest` and built; its
    `spin.toml`."""
    here = Path(__file__).parent / "app" / "spinsdk"
    shutil.copy(here / "spin.toml", dest / "spin.toml")
    shutil.copy(here / "app.py", dest / "app.py")
    build_spin_sdk_app(dest / "app.py", dest / "app.wasm")
    return dest / "spin.toml"
