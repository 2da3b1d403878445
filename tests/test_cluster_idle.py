"""Scale-to-zero of idle components (`--idle-unload`): prepared state dropped, re-prepared on demand."""

from __future__ import annotations

import gc
import re
import time
import weakref
from pathlib import Path

import httpx
import pytest

from cluster_fixtures import up_guest
from wasmhive import Limits, Runtime
from wasmhive.http import HttpApp, Request
from wasmhive.http._idle import IdleExecutor, unload_idle

pytest_plugins = ("http_fixtures",)


def test_idle_component_is_dropped_and_prepared_again(http_guest: Path, compile_cache: Path) -> None:
    with Runtime(cache=compile_cache) as rt:
        app = HttpApp.from_component(str(http_guest), runtime=rt, limits=Limits(timeout=10))
        original = app.router.routes[0].target
        stop = unload_idle(app, idle=3600)  # the sweeper never fires on its own here: sweep() by hand
        try:
            idle = app.router.routes[0].target
            assert isinstance(idle, IdleExecutor) and idle.name == original.name
            assert app.handle(Request("GET", "/hello")).text == "Hello from Python!\n"
            assert not idle.sweep()  # used just now
            gone = weakref.ref(original)
            del original
            assert idle.sweep(now=time.monotonic() + 3601)
            gc.collect()
            assert gone() is None and not idle.loaded  # the prepared component is really released
            assert idle.cold_starts == 0
            # The next request prepares it again (from the compile cache) and is served normally.
            assert app.handle(Request("GET", "/hello")).text == "Hello from Python!\n"
            assert idle.loaded and idle.cold_starts == 1 and idle.last_cold_start is not None
            assert app.handle(Request("GET", "/trap")).status == 500  # a trap still is a 500
            assert idle.cold_starts == 1
        finally:
            stop.set()
            app.close()


@pytest.mark.slow
def test_up_unloads_an_idle_component_and_serves_it_again(http_guest: Path, compile_cache: Path,
                                                          tmp_path: Path) -> None:
    # JSON logs: INFO records (unload, re-prepare) are written, one JSON object a line.
    with up_guest(http_guest, compile_cache, tmp_path, "--idle-unload", "1s", "--log-format", "json") as up:
        up.wait_ready()
        assert httpx.get(up.url + "/hello", timeout=10).status_code == 200
        deadline = time.monotonic() + 30
        while "unloaded after" not in up.log_text():
            assert time.monotonic() < deadline, up.log_text()
            time.sleep(0.2)
        t0 = time.perf_counter()
        r = httpx.get(up.url + "/hello", timeout=30)
        first = time.perf_counter() - t0
        assert (r.status_code, r.text) == (200, "Hello from Python!\n")
        t0 = time.perf_counter()
        assert httpx.get(up.url + "/hello", timeout=10).status_code == 200
        warm = time.perf_counter() - t0
        m = re.search(r"prepared again after idle: ([\d.]+) ms", up.log_text())
        assert m, up.log_text()
        print(f"\ncold start after scale-to-zero: {first * 1e3:.0f} ms for the request "
              f"(re-prepare {m.group(1)} ms); warm request {warm * 1e3:.0f} ms")
