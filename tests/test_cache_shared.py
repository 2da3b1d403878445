"""`wasmhive up` fills the compile cache; the Python API (`HttpApp.from_component`, `App.load`) then loads
from it instead of compiling again.

`up` runs in its own process on loopback (a real server answering a real request); the Python API runs
here with the same `$WASMHIVE_CACHE`. The proof is the cache's own counters and its directory: a hit,
and no entry written.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app_fixtures import Server
from wasmhive import App
from wasmhive.http import HttpApp, Request

MINIMAL = (Path(__file__).parent / "http" / "minimal.wat.in").read_text()
TEAPOT = MINIMAL.replace("VERSION", "0.2.0").replace("MODE", "0")  # answers 418


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/*.cwasm"))


def serve_once(path: Path, cache: Path, url_path: str) -> None:
    """`wasmhive up PATH` with its compile cache in `cache`, until one request is answered."""
    server = Server(path, env={"WASMHIVE_CACHE": str(cache)}).wait()
    try:
        r = httpx.get(server.url + url_path, timeout=30)
        assert r.status_code == 418, server.output()
    finally:
        server.kill()


def test_from_component_loads_what_up_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "compiled"
    component = tmp_path / "teapot.wat"
    component.write_text(TEAPOT)
    serve_once(component, cache, "/")
    written = entries(cache)
    assert len(written) == 1, "up compiled the component into the cache"

    monkeypatch.setenv("WASMHIVE_CACHE", str(cache))
    with HttpApp.from_component(component) as app:
        executor = app.router.routes[0].target
        rt = executor.runtime
        assert rt.settings.pooling is True, "the same engine as up: pooled instance slots"
        assert executor.compiled.from_cache is True
        assert (rt.cache.hits, rt.cache.misses, rt.cache.writes) == (1, 0, 0)
        assert app.handle(Request("GET", "/")).status == 418
    assert entries(cache) == written


def test_app_load_reuses_what_up_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` on an app pools instances, `App.load` keeps its on-demand default: one cache entry serves both."""
    cache = tmp_path / "compiled"
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "teapot.wat").write_text(TEAPOT)
    (app_dir / "wasmhive.toml").write_text(
        '[application]\nname = "teapot"\n[[trigger.http]]\nroute = "/tea/..."\ncomponent = "teapot"\n'
        '[component.teapot]\nsource = "teapot.wat"\n')
    serve_once(app_dir, cache, "/tea/pot")
    written = entries(cache)
    assert len(written) == 1

    monkeypatch.setenv("WASMHIVE_CACHE", str(cache))
    with App.load(app_dir) as app:
        rt = app.runtime
        assert rt.pooling is False
        assert rt.cache is not None and (rt.cache.hits, rt.cache.misses, rt.cache.writes) == (1, 0, 0)
        with app.http_app(close_app=False) as http:
            assert http.handle(Request("GET", "/tea/pot")).status == 418
    assert entries(cache) == written
