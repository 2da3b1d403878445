"""`wasmhive new` and `wasmhive build`: templates generate, build with the project's toolchains, and run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from wasmhive.app import load_manifest
from wasmhive.app._build import snapshot, watched_files
from wasmhive.cli import main
from wasmhive.http._router import Router
from wasmhive.http._wagi import WagiExecutor, WagiRequest
from wasmhive.runtime import Runtime


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime(concurrency=False) as rt:
        yield rt


def test_new_list() -> None:
    result = CliRunner().invoke(main, ["new", "--list"])
    assert result.exit_code == 0
    for name in ("http-python", "http-c", "http-wat"):
        assert name in result.output


def test_new_refuses_bad_input(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["new", "http-nope", "x", "-o", str(tmp_path / "x")])
    assert r.exit_code == 64 and "no template named 'http-nope'" in r.output
    r = CliRunner().invoke(main, ["new", "http-wat", "Bad_Name", "-o", str(tmp_path / "y")])
    assert r.exit_code == 64 and "project name" in r.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    r = CliRunner().invoke(main, ["new", "http-wat", "ok", "-o", str(tmp_path / "full")])
    assert r.exit_code == 64 and "not empty" in r.output


@pytest.mark.parametrize(("template", "expected"), [
    ("http-wat", b"Hello from demo (WAT)!\n"),
    ("http-c", b"Hello from demo (C)! GET /hello\n"),
])
def test_new_build_run_wagi_templates(tmp_path: Path, runtime: Runtime, template: str, expected: bytes) -> None:
    dest = tmp_path / "demo"
    r = CliRunner().invoke(main, ["new", template, "demo", "-o", str(dest)])
    assert r.exit_code == 0, r.output
    assert {"wasmhive.toml", "README.md"} <= {p.name for p in dest.iterdir()}
    r = CliRunner().invoke(main, ["build", str(dest)])
    assert r.exit_code == 0, r.output
    assert "built demo" in r.output
    app = load_manifest(dest)
    comp = app.components["demo"]
    trigger = app.triggers[0]
    assert trigger.executor.type == "wagi"
    executor = WagiExecutor(runtime, comp.source, component_id="demo")
    match = Router([(trigger.route or "", "demo")]).match("/hello")
    assert match is not None
    resp = executor.handle(WagiRequest("GET", "/hello"), match)
    assert resp.status == 200 and resp.body == expected


def test_new_python_template_layout(tmp_path: Path) -> None:
    dest = tmp_path / "py"
    assert CliRunner().invoke(main, ["new", "http-python", "py", "-o", str(dest)]).exit_code == 0
    assert (dest / "wit" / "world.wit").is_file()
    assert (dest / "wit" / "deps" / "wasi-http@0.2.0").is_dir()  # copied from installed packages
    app = load_manifest(dest)
    assert app.components["py"].build is not None and "componentize-py" in str(app.components["py"].build.command)


def test_build_failure_shows_tool_output(tmp_path: Path) -> None:
    (tmp_path / "wasmhive.toml").write_text("""
[component.bad]
source = "out.wasm"
[component.bad.build]
command = "echo compiling...; echo 'main.c:3: error: expected ;' >&2; exit 3"
""")
    r = CliRunner().invoke(main, ["build", str(tmp_path)])
    assert r.exit_code == 1
    assert "exit 3" in r.output and "main.c:3: error: expected ;" in r.output


def test_build_must_produce_source(tmp_path: Path) -> None:
    (tmp_path / "wasmhive.toml").write_text('[component.a]\nsource = "a.wasm"\n[component.a.build]\ncommand = "true"\n')
    r = CliRunner().invoke(main, ["build", str(tmp_path)])
    assert r.exit_code == 1 and "did not produce" in r.output


def test_watched_files_change_detection(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("1")
    (tmp_path / "wasmhive.toml").write_text("""
[component.a]
source = "a.wasm"
files = ["static/*"]
[component.a.build]
command = "true"
workdir = "src"
watch = ["*.py"]
""")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "i.html").write_text("x")
    app = load_manifest(tmp_path)
    files = watched_files(app)
    assert {p.name for p in files} == {"a.py", "i.html", "wasmhive.toml"}
    before = snapshot(files)
    (tmp_path / "src" / "a.py").write_text("22")
    assert snapshot(files) != before


def test_watch_rebuilds_on_change(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    dest = tmp_path / "w"
    assert CliRunner().invoke(main, ["new", "http-wat", "w", "-o", str(dest)]).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "watch", str(dest),
                             "--no-up", "--interval", "0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wasm = dest / "main.wasm"
        deadline = time.monotonic() + 60
        while not wasm.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        first = wasm.read_bytes()
        src = dest / "main.wat"
        src.write_text(src.read_text().replace("Hello from", "Changed! Hello from"))
        while wasm.read_bytes() == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"Changed!" in wasm.read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_new_build_serve_http_js(tmp_path: Path) -> None:
    """http-js: npm packages (cached across sessions), jco componentize, served by the HTTP trigger."""
    import shutil
    import subprocess

    from wasmhive.app._templates import TEMPLATES_DIR
    from wasmhive.app.toolchains import build_cached
    from wasmhive.http import HttpApp, Request

    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node/npm are not installed")
    template = TEMPLATES_DIR / "http-js" / "content"
    npm_cache = Path(__file__).parent / ".guest-cache" / "jco-npm"
    if not (npm_cache / ".complete").exists():
        npm_cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(template / "package.json", npm_cache / "package.json")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=npm_cache, check=True)
        (npm_cache / ".complete").write_text("")

    def build(dest: Path) -> None:
        project = tmp_path / "js"
        r = CliRunner().invoke(main, ["new", "http-js", "js", "-o", str(project)])
        assert r.exit_code == 0, r.output
        (project / "node_modules").symlink_to(npm_cache / "node_modules")
        r = CliRunner().invoke(main, ["build", str(project)])
        assert r.exit_code == 0, r.output
        shutil.copy(project / "app.wasm", dest)

    wasm = build_cached("http-js-template", sorted(template.rglob("*.*")), build,
                        tool_version=(npm_cache / "package.json").read_text())
    with HttpApp.from_component(wasm) as app:
        r = app.handle(Request("GET", "/hi"))
    assert (r.status, r.text) == (200, "Hello from js (JS)! You asked for /hi\n")


@pytest.mark.slow
def test_new_build_serve_http_python(tmp_path: Path) -> None:
    """http-python: `wasmhive build` runs componentize-py; the component serves through the HTTP trigger."""
    import shutil

    from wasmhive.app._templates import TEMPLATES_DIR
    from wasmhive.app.toolchains import build_cached, tool_version
    from wasmhive.http import HttpApp, Request

    template = TEMPLATES_DIR / "http-python" / "content"

    def build(dest: Path) -> None:
        project = tmp_path / "py"
        assert CliRunner().invoke(main, ["new", "http-python", "py", "-o", str(project)]).exit_code == 0
        r = CliRunner().invoke(main, ["build", str(project)])
        assert r.exit_code == 0, r.output
        shutil.copy(project / "app.wasm", dest)

    wasm = build_cached("http-python-template", sorted(template.rglob("*.*")), build,
                        tool_version=tool_version("componentize-py"))
    with HttpApp.from_component(wasm) as app:
        r = app.handle(Request("GET", "/hello"))
    assert (r.status, r.text) == (200, "Hello from py! You asked for /hello\n")


def test_build_up_serves(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    import httpx

    from app_fixtures import free_port

    dest = tmp_path / "b"
    assert CliRunner().invoke(main, ["new", "http-wat", "b", "-o", str(dest)]).exit_code == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "build", str(dest), "--up",
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert text == "Hello from b (WAT)!\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_files_symlink_outside_the_app_is_refused(tmp_path: Path) -> None:
    from wasmhive.appconfig import stage_files
    from wasmhive.errors import ConfigError

    outside = tmp_path / "secret.txt"
    outside.write_text("s3cret")
    app_dir = tmp_path / "app"
    (app_dir / "public").mkdir(parents=True)
    (app_dir / "public" / "ok.txt").write_text("ok")
    (app_dir / "public" / "link.txt").symlink_to(outside)
    (app_dir / "wasmhive.toml").write_text('[component.a]\nsource = "a.wasm"\nfiles = ["public/*.txt"]\n')
    app = load_manifest(app_dir)
    with pytest.raises(ConfigError, match="points outside the app directory"):
        stage_files(app, app.components["a"])
    (app_dir / "public" / "link.txt").unlink()
    root = stage_files(app, app.components["a"])
    assert root is not None and (root / "public" / "ok.txt").read_text() == "ok"
