"""Real apps, unchanged (issue 10): outbound HTTP from guests built by the toolchains people use.

* spin-sdk 3.4.1 (componentize-py 0.17.2), served by `wasmhive up spin.toml`: `http.send` GET and POST
  (spin-sdk finishes the body after `handle`, GET included) and `asyncio.gather` over two sends (its poll
  loop then polls several pollables at once).
* jco / StarlingMonkey: `Promise.all` over two `fetch`es and a `fetch` POST with a body.

Both call a recording server on loopback (`outbound_fixtures.py`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_fixtures import Server, build_spin_sdk_app

pytest_plugins = ("http_fixtures", "outbound_fixtures")
pytestmark = pytest.mark.slow  # spin-sdk and jco builds, a `wasmhive up` server
TESTS = Path(__file__).parent
SPIN_APP = TESTS / "app" / "spinsend" / "app.py"
JS_APP = TESTS / "http" / "jsfetch" / "app.js"

SPIN_TOML = """spin_manifest_version = 2

[application]
name = "spin-send"

[[trigger.http]]
route = "/..."
component = "send"

[component.send]
source = "app.wasm"
allowed_outbound_hosts = ["{target}"]
"""


@pytest.fixture(scope="module")
def spin_server(tmp_path_factory: pytest.TempPathFactory, target: tuple[str, list[Any]]) -> Any:
    dest = tmp_path_factory.mktemp("spinsend")
    shutil.copy(SPIN_APP, dest / "app.py")
    build_spin_sdk_app(dest / "app.py", dest / "app.wasm")
    (dest / "spin.toml").write_text(SPIN_TOML.format(target=target[0]))
    server = Server(dest / "spin.toml").wait()
    yield server
    server.kill()


@pytest.mark.parametrize(("path", "expected"), [
    ("/get", "200 GET cl=0 "),  # spin-sdk declares content-length: 0 and finishes after `handle`
    ("/post", "200 POST cl=9 spin body"),
    ("/gather", "200 GET cl=0 \n200 POST cl=6 second"),
])
def test_spin_sdk_send(spin_server: Any, target: tuple[str, list[Any]], path: str, expected: str) -> None:
    r = httpx.get(f"{spin_server.url}{path}", params={"t": target[0]}, timeout=30)
    assert (r.status_code, r.text) == (200, expected), spin_server.output()[-3000:]


# -- JavaScript (jco componentize, StarlingMonkey) --------------------------------------------------------
def build_js_fetch_app(cache: Path, tmp: Path) -> Path:
    """Build `tests/http/jsfetch/app.js` with the http-js template's build script and npm packages."""
    from wasmhive.app._templates import TEMPLATES_DIR
    from wasmhive.app.toolchains import build_cached, wasm_tools

    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node/npm are not installed (CI installs them): the jco guest cannot be built")
    template = TEMPLATES_DIR / "http-js" / "content"
    npm_cache = cache / "jco-npm"  # shared with tests/test_app_build.py
    if not (npm_cache / ".complete").exists():
        npm_cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(template / "package.json", npm_cache / "package.json")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=npm_cache, check=True)
        (npm_cache / ".complete").write_text("")

    cjs = npm_cache / "node_modules" / "@bytecodealliance" / "jco" / "node_modules" / "@bytecodealliance"
    if not cjs.exists():
        cjs = npm_cache / "node_modules" / "@bytecodealliance"
    engine = cjs / "componentize-js" / "lib" / "starlingmonkey_embedding.wasm"

    def build(dest: Path) -> None:
        project = tmp / "jsfetch"
        # StarlingMonkey's own fetch-event handler exports `incoming-handler@0.2.10`: the world must use
        # the engine's own 0.2.10 WIT (jco ships 0.2.12, which does not merge with it), read from the engine.
        (project / "wit").mkdir(parents=True)
        wasm_tools("component", "wit", engine, "--out-dir", project / "wit")
        (project / "wit" / "root.wit").unlink()
        (project / "wit" / "world.wit").write_text(
            "package wasmhive:jsfetch;\n\nworld app {\n  import wasi:http/outgoing-handler@0.2.10;\n"
            "  export wasi:http/incoming-handler@0.2.10;\n}\n")
        shutil.copy(template / "build.mjs", project / "build.mjs")
        shutil.copy(JS_APP, project / "app.js")
        (project / "node_modules").symlink_to(npm_cache / "node_modules")
        proc = subprocess.run(["node", "build.mjs"], cwd=project, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"jco build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        shutil.copy(project / "app.wasm", dest)

    return build_cached("jsfetch", [JS_APP, template / "build.mjs", engine], build,
                        tool_version=(npm_cache / "package.json").read_text(), cache_dir=cache)


@pytest.fixture(scope="module")
def js_app(guest_cache: Path, compile_cache: Path, tmp_path_factory: pytest.TempPathFactory,
           target: tuple[str, list[Any]]) -> Any:
    from wasmhive import Limits, Runtime
    from wasmhive.capabilities.outbound_http import OutboundPolicy
    from wasmhive.http import HttpApp

    wasm = build_js_fetch_app(guest_cache, tmp_path_factory.mktemp("js"))
    with Runtime(cache=compile_cache, concurrency=False) as rt, HttpApp.from_component(
            wasm, runtime=rt, name="jsfetch", limits=Limits(timeout=10.0),
            outbound=OutboundPolicy.parse([target[0]])) as app:
        yield app


@pytest.mark.parametrize(("path", "expected"), [
    ("/all", "200 GET cl=None \n200 GET cl=None "),
    ("/post", "200 POST {framing} hello from js"),
])
def test_js_fetch(js_app: Any, target: tuple[str, list[Any]], path: str, expected: str) -> None:
    from wasmhive.http import Request

    r = js_app.handle(Request("GET", path, query=f"t={target[0]}"))
    assert r.status == 200, r.body
    text = r.body.decode()
    if "{framing}" in expected:  # StarlingMonkey may stream the body (chunked) or declare its length
        assert text in (expected.format(framing="cl=13"), expected.format(framing="chunked")), text
    else:
        assert text == expected
