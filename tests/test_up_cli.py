"""`wasmhive up` does what it says: its flags take effect on an app, /contracts only when asked and never
over the app's routes, guest output and access lines by default (-q, --log-dir), the banner after the
socket is bound, clear errors for bad addresses, Ctrl-C during a compile.

Real `wasmhive up` processes on loopback serving the componentize-py test guest (`tests/http/pyguest`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server, free_port
from wasmhive.errors import ConfigError
from wasmhive.server import UpConfig, build_app

pytest_plugins = ("http_fixtures",)

MANIFEST = """spin_manifest_version = 2
[application]
name = "up-test"

[[trigger.http]]
route = "/..."
component = "guest"

[[trigger.http]]
route = "/contracts/app-owned"
static_response = {{ status_code = 200, body = "the app's own route" }}

[component.guest]
source = "guest.wasm"
{extra}
"""


def make_app(root: Path, guest: Path, extra: str = "") -> Path:
    """An app directory serving the test guest on `/...` (plus a static `/contracts/app-owned`)."""
    root.mkdir(parents=True)
    shutil.copyfile(guest, root / "guest.wasm")
    (root / "spin.toml").write_text(MANIFEST.format(extra=extra))
    return root


@pytest.fixture
def env(compile_cache: Path, tmp_path: Path) -> dict[str, str]:
    """The session's compile cache (the guest is compiled once) and a private contract state dir."""
    return {"WASMHIVE_CACHE": str(compile_cache), "WASMHIVE_STATE": str(tmp_path / "state")}


@pytest.fixture
def server_factory(env: dict[str, str]) -> Iterator[object]:
    servers: list[Server] = []

    def start(path: Path, *args: str) -> Server:
        server = Server(path, *args, env=env)
        servers.append(server)
        return server.wait()

    yield start
    for s in servers:
        s.kill()


def test_flags_are_every_components_defaults(tmp_path: Path, http_guest: Path, outbound_target: str,
                                             server_factory) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path / "app", http_guest)
    server = server_factory(app, "--timeout", "1s", "--memory", "64MiB", "--env", "GREETING=from-flag",
                            "--allow-outbound", outbound_target)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/loop").status_code == 504
        assert c.get("/alloc", params={"mb": "100"}).status_code == 500  # past --memory
        assert c.get("/alloc", params={"mb": "8"}).status_code == 200
        assert c.get("/env").text.splitlines()[0] == "from-flag"
        r = c.get("/outbound", params={"url": outbound_target + "/x"})
        assert r.status_code == 200 and r.text.startswith("200\ntarget /x")
    assert "ran past its 1s deadline" in server.output()


def test_manifest_values_win_over_flags(tmp_path: Path, http_guest: Path, outbound_target: str,
                                        server_factory) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path / "app", http_guest, extra='environment = { GREETING = "from-manifest" }\n'
                   '[component.guest.limits]\ntimeout = "2s"\nmemory = "256MiB"\n')
    server = server_factory(app, "--timeout", "1s", "--memory", "64MiB", "--env", "GREETING=from-flag",
                            "--env", "OTHER=x", "--allow-outbound", outbound_target)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/loop").status_code == 504
        assert c.get("/alloc", params={"mb": "100"}).status_code == 200  # the manifest's 256MiB
        assert c.get("/env").text.splitlines()[0] == "from-manifest"
        # Outbound hosts from the flag are added to the component's (empty) list.
        assert c.get("/outbound", params={"url": outbound_target + "/y"}).text.startswith("200\ntarget /y")
    out = server.output()
    assert "ran past its 2s deadline" in out and "1s deadline" not in out


def test_default_server_logs_and_leaves_contracts_to_the_app(tmp_path: Path, http_guest: Path,
                                                             outbound_target: str,
                                                             server_factory) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path / "app", http_guest)
    server = server_factory(app)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/print").text == "printed\n"
        r = c.get("/contracts")  # no --contracts: the app's `/...` answers (the guest's own 404)
        assert (r.status_code, r.text) == (404, "not found\n")
        # Without --allow-outbound the guest may call nothing.
        assert c.get("/outbound", params={"url": outbound_target + "/x"}).text.startswith("error: ")
        assert c.get("/trap").status_code == 500
    out = server.output()
    assert "[guest stdout] hello on stdout" in out and "[guest stderr] hello on stderr" in out
    assert '"GET /print HTTP/1.1" 200' in out and '"GET /contracts HTTP/1.1" 404' in out
    assert re.search(r'^\[guest\] \S+ "GET /print HTTP/1.1" 200', out, re.M), out  # prefixed with the component
    assert "[guest stderr] RuntimeError: boom from the guest" in out
    # The banner lists the routes with full URLs, after one progress line per component.
    assert "Ready: guest in " in out
    assert f"Serving {server.url}\nAvailable Routes:\n" in out
    assert f"  guest: {server.url}/... (wildcard)" in out and f"{server.url}/contracts/app-owned" in out
    assert "contract API" not in out


def test_contracts_quiet_and_log_dir(tmp_path: Path, http_guest: Path,
                                     server_factory) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path / "app", http_guest)
    logs = tmp_path / "logs"
    server = server_factory(app, "--contracts", "-q", "--log-dir", str(logs))
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get("/contracts")  # the contract API (nothing deployed in this state dir)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
        assert "no contracts deployed" in r.json()["error"]
        assert c.get("/contracts/anything").headers["content-type"] == "application/json"
        r = c.get("/contracts/app-owned")  # an app route under /contracts still reaches the app
        assert (r.status_code, r.text) == (200, "the app's own route")
        assert c.get("/print").status_code == 200
        assert c.get("/trap").status_code == 500
    out = server.output()
    assert f"  contracts: {server.url}/contracts/... (contract API)\nLogging component stdio to {logs}/\n" in out
    assert "hello on stdout" not in out and '"GET /print' not in out  # -q
    assert "guest trapped" in out  # errors are still shown
    assert (logs / "guest_stdout.txt").read_text() == "hello on stdout\n"
    stderr = (logs / "guest_stderr.txt").read_text()
    assert stderr.startswith("hello on stderr\n") and "RuntimeError: boom from the guest" in stderr


def test_banner_is_printed_once_the_socket_accepts(http_guest: Path, env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", str(http_guest),
                             "--listen", f"127.0.0.1:{port}", "--route", "/api/..."],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, **env}, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == f"Serving http://127.0.0.1:{port}\n"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # accepted (or queued) right away: listening before the banner
        assert proc.stdout.readline() == "Available Routes:\n"
        name = http_guest.stem
        assert proc.stdout.readline() == f"  {name}: http://127.0.0.1:{port}/api/... (wildcard)\n"
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def _up(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def test_port_in_use_is_one_line_and_a_usage_error(http_guest: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _up(str(http_guest), "--listen", f"127.0.0.1:{port}")
    assert r.returncode == 64
    assert r.stderr == f"error: --listen 127.0.0.1:{port}: address already in use (another server is listening " \
                       "there)\n"
    assert "Preparing" not in r.stderr  # refused before compiling anything


@pytest.mark.parametrize(("listen", "message"), [
    ("127.0.0.1:99999", "--listen 127.0.0.1:99999: port 99999 is out of range (0-65535)"),
    ("localhost", "--listen wants HOST:PORT, got 'localhost'"),
    ("no-such-host.invalid:3000", "--listen no-such-host.invalid:3000: cannot resolve 'no-such-host.invalid'"),
])
def test_bad_listen_address(http_guest: Path, listen: str, message: str) -> None:
    r = _up(str(http_guest), "--listen", listen)
    assert r.returncode == 64 and r.stderr.startswith(f"error: {message}") and r.stderr.count("\n") == 1


def test_options_that_do_not_apply_are_refused(tmp_path: Path, http_guest: Path) -> None:
    app = make_app(tmp_path / "app", http_guest)
    with pytest.raises(ConfigError, match="--route is for a single component"):
        build_app(UpConfig(path=str(app), route="/x/..."))
    with pytest.raises(ConfigError, match="--variable is for an app"):
        build_app(UpConfig(path=str(http_guest), variables={"a": "b"}))
    r = _up(str(app), "--listen", f"127.0.0.1:{free_port()}", "--allow-outbound", "example.com")
    assert r.returncode == 64 and r.stderr.startswith("error: --allow-outbound: ") and "needs a scheme" in r.stderr
    r = _up(str(app), "--listen", f"127.0.0.1:{free_port()}", "--timeout", "soon")
    assert r.returncode == 64 and r.stderr.startswith("error: --timeout: not a duration")


def test_ctrl_c_while_compiling_stops_at_once(tmp_path: Path, http_guest: Path) -> None:
    """SIGINT during the compile of an 18 MB component (a fresh, empty compile cache) ends `up` with 130
    before the compile finishes: nothing is written to the cache."""
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", str(http_guest),
                             "--listen", f"127.0.0.1:{free_port()}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "WASMHIVE_CACHE": str(cache)}, text=True)
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith(f"Preparing component {http_guest.stem} (")
        time.sleep(0.3)  # well inside the compile (seconds)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)  # only against a hang
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, err = proc.communicate()
    assert rc == 130
    assert "interrupted" in err
    assert not list(cache.rglob("*.cwasm"))  # the compile did not run to its end


def test_an_app_gets_the_engine_a_component_gets(tmp_path: Path, http_guest: Path, compile_cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Same epoch tick, allocator and body limit for `up APP` as for `up component.wasm`; limits per component."""
    monkeypatch.setenv("WASMHIVE_CACHE", str(compile_cache))
    app = make_app(tmp_path / "app", http_guest, extra='[component.guest.limits]\nmemory = "96MiB"\n')
    served = [build_app(UpConfig(path=str(p), timeout=3.0, memory=64 * 2**20, threads=1, max_body=2_000_000))
              for p in (app, http_guest)]
    try:
        (app_ex, comp_ex) = [next(r.target for r in h.router.routes if r.raw == "/...") for h in served]
        app_ex = app_ex.executor  # the app wraps each executor to add Spin's headers
        assert app_ex.runtime.tick == comp_ex.runtime.tick == 0.02
        assert app_ex.runtime.settings == comp_ex.runtime.settings
        assert (app_ex.limits.timeout, app_ex.limits.memory) == (3.0, 96 * 2**20)  # the manifest's memory wins
        assert (comp_ex.limits.timeout, comp_ex.limits.memory) == (3.0, 64 * 2**20)
        assert app_ex.body_limit == comp_ex.body_limit == 2_000_000  # --max-body reaches the executors too
    finally:
        for h in served:
            h.close()


def test_contracts_mount_yields_to_routes_at_least_as_specific(tmp_path: Path) -> None:
    """The mount behaves as the route `/contracts/...` in Spin's precedence; ties go to the app."""
    from wasmhive.http._router import Router
    from wasmhive.server._serve import _keeps

    def keeps(routes: list[str], path: str) -> bool:
        return _keeps(Router([(r, r) for r in routes]), "/contracts")(path)

    assert not keeps(["/..."], "/contracts/x")
    assert not keeps(["/:name/..."], "/contracts/x")
    assert keeps(["/contracts/..."], "/contracts/x")
    assert keeps(["/...", "/contracts"], "/contracts") and not keeps(["/...", "/contracts"], "/contracts/x")
    assert keeps(["/contracts/:id/..."], "/contracts/x/y")  # a longer prefix, even with a `:name`
    assert keeps(["/:a/:b/..."], "/contracts/x/y")  # two segments beat one, literal or not
    assert keeps(["/contracts/x/..."], "/contracts/x/y")


def test_workers_get_the_same_options(tmp_path: Path, http_guest: Path,
                                      server_factory) -> None:  # type: ignore[no-untyped-def]
    """With --workers 2 each worker process builds its app from the same options: limits, env, quiet,
    log dir, contracts."""
    app = make_app(tmp_path / "app", http_guest)
    logs = tmp_path / "logs"
    server = server_factory(app, "--workers", "2", "--timeout", "1s", "--env", "GREETING=in-a-worker", "-q",
                            "--log-dir", str(logs), "--contracts")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert {c.get("/env").text.splitlines()[0] for _ in range(4)} == {"in-a-worker"}
        assert c.get("/loop").status_code == 504
        assert c.get("/contracts").headers["content-type"] == "application/json"
        for _ in range(4):
            assert c.get("/print").status_code == 200
    out = server.output()
    assert f"Serving {server.url} (2 workers)" in out and "ran past its 1s deadline" in out
    assert "hello on stdout" not in out
    assert (logs / "guest_stdout.txt").read_text() == "hello on stdout\n" * 4
