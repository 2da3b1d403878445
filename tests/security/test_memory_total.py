"""`Limits.memory` (and `--memory`) bound all of an instance's linear memories together.

The attack that once worked: `run --memory 64MiB` on a module with 16 memories reached 1 GiB RSS,
because wasmtime's limit applies to each memory. Now the total is split across the memories the guest
defines. And a component that dies because an allocation was refused at the limit is reported as
the memory limit, not as "wasm `unreachable` instruction executed".
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmhive import Limits, Runtime, Sandbox
from wasmhive.errors import GuestExit, LimitExceeded

WASMHIVE = str(Path(sys.executable).parent / "wasmhive")
MiB = 1024 * 1024
PAGE = 65536
GUESTS = Path(__file__).parent / "guests"
pytest_plugins = ("http_fixtures",)


def _bomb_wat(memories: int) -> str:
    """A WASI command defining `memories` memories, growing each a page at a time until refused and
    touching every page; it exits with the total it got, in MiB (the host reads the sizes too)."""
    grow = "\n".join(f"""
    (block $done{i} (loop $more{i}
      (br_if $done{i} (i32.eq (memory.grow {i} (i32.const 1)) (i32.const -1)))
      (i32.store8 {i} (i32.sub (i32.mul (memory.size {i}) (i32.const {PAGE})) (i32.const 1)) (i32.const 1))
      (br $more{i})))
    (local.set $pages (i32.add (local.get $pages) (memory.size {i})))""" for i in range(memories))
    mems = "\n".join(f"  (memory {1})" for _ in range(memories))
    mems += "\n  (export \"memory\" (memory 0))"
    return f"""(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
{mems}
  (func (export "_start") (local $pages i32)
    {grow}
    (call $exit (i32.shr_u (local.get $pages) (i32.const 4)))))"""


@pytest.fixture(scope="module")
def bomb16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb16.wasm"
    path.write_bytes(wasmtime.wat2wasm(_bomb_wat(16)))
    return path


def test_sixteen_memories_share_one_total(runtime: Runtime, bomb16: Path) -> None:
    inst = runtime.instantiate(bomb16, limits=Limits(memory=64 * MiB), sandbox=Sandbox())
    with pytest.raises(GuestExit) as e:
        inst.call("_start")
    assert e.value.code == 64  # MiB, as the guest counted them
    sizes = inst.memory_sizes()
    assert len(sizes) == 16
    assert sum(sizes) <= 64 * MiB
    assert sum(sizes) > 64 * MiB - 16 * PAGE  # each grew to its share: 4 MiB


def test_one_memory_gets_the_whole_limit(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "bomb1.wasm"
    path.write_bytes(wasmtime.wat2wasm(_bomb_wat(1)))
    inst = runtime.instantiate(path, limits=Limits(memory=64 * MiB), sandbox=Sandbox())
    with pytest.raises(GuestExit):
        inst.call("_start")
    assert inst.memory_sizes() == [64 * MiB]


def test_cli_memory_is_a_total(bomb16: Path, compile_cache: Path) -> None:
    proc = subprocess.run([WASMHIVE, "run", "--memory", "64MiB", str(bomb16)], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False,
                          env={**os.environ, "WASMHIVE_CACHE": str(compile_cache)})
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 64  # the guest's own report: 64 MiB in all, not 16 x 64 MiB
    help_text = subprocess.run([WASMHIVE, "run", "--help"], capture_output=True, text=True, timeout=60,
                               check=False).stdout
    assert "Linear memory limit per instance" in help_text


def test_a_module_needing_more_than_its_share_is_refused_clearly(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "big.wasm"
    path.write_bytes(wasmtime.wat2wasm('(module (memory 40) (memory 40) (func (export "_start")))'))
    with pytest.raises(LimitExceeded) as e:
        runtime.instantiate(path, limits=Limits(memory=4 * MiB))  # 2.5 MiB each, 2 MiB allowed each
    assert e.value.limit == "memory" and "split across its 2 memories" in str(e.value)


@pytest.fixture(scope="module")
def membomb_component(guest_cache: Path) -> Path:
    from wasmhive.app.toolchains import componentize_py, standard_wit

    return componentize_py(standard_wit("wasi:cli@0.2.0"), "wasi:cli/command@0.2.0", GUESTS / "membomb" / "app.py",
                           cache_dir=guest_cache)


@pytest.mark.slow
def test_a_component_memory_bomb_is_named_as_the_memory_limit(membomb_component: Path,
                                                                compile_cache: Path) -> None:
    with Runtime(cache=compile_cache) as rt, pytest.raises(LimitExceeded) as e:
        rt.run(membomb_component, sandbox=Sandbox(stderr="capture"), limits=Limits(memory=64 * MiB))
    assert e.value.limit == "memory" and e.value.value == 64 * MiB
    assert "guest ran out of memory" in str(e.value) and "unreachable" in str(e.value)
    proc = subprocess.run([WASMHIVE, "run", "--memory", "64MiB", str(membomb_component)], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, check=False,
                          env={**os.environ, "WASMHIVE_CACHE": str(compile_cache)})
    assert proc.returncode == 137, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: guest ran out of memory") and f"memory = {64 * MiB} bytes" in last
    assert "MemoryError" in proc.stderr  # the guest's own output still reaches the user, unchanged


@pytest.mark.slow
def test_a_memory_bomb_behind_http_is_logged_as_the_memory_limit(new_executor: Any,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from wasmhive.http import HttpApp
    from wasmhive.http._types import Request

    ex = new_executor(limits=Limits(memory=64 * MiB, timeout=20.0))
    with HttpApp([("/...", ex)]) as app, caplog.at_level(logging.ERROR, "wasmhive.http"):
        assert app.handle(Request("GET", "/alloc", "mb=16")).status == 200  # within the limit: fine
        assert app.handle(Request("GET", "/alloc", "mb=200")).status == 500
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "guest ran out of memory" in errors[0] and f"memory = {64 * MiB} bytes" in errors[0]


@pytest.mark.slow
def test_a_component_memory_bomb_called_from_python_is_the_memory_limit(membomb_component: Path,
                                                                       compile_cache: Path) -> None:
    with Runtime(cache=compile_cache) as rt:
        comp = rt.component(membomb_component, sandbox=Sandbox(stderr="capture"), limits=Limits(memory=64 * MiB))
        iface, sig = comp.locate("run")
        run = comp.instance.bound(iface, sig.name)
        with pytest.raises(LimitExceeded, match="guest ran out of memory") as e:
            run()
        assert e.value.limit == "memory"
        del run, comp
