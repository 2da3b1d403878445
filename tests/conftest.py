"""Session fixtures shared by the whole suite: a runtime with a private compile cache, the guest cache.

Guests are built with `wasmhive.app.toolchains` into `tests/.guest-cache/` (git-ignored), keyed by a
hash of their sources and tool versions, so each is built once and reused by later sessions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmhive import Runtime

TESTS = Path(__file__).parent
GUESTS = TESTS / "guests"


@pytest.fixture(scope="session")
def guest_cache() -> Path:
    """Where test guests are built (persists across sessions; safe to delete)."""
    path = Path(os.environ.get("WASMHIVE_GUEST_CACHE", TESTS / ".guest-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def compile_cache(guest_cache: Path) -> Path:
    """A compile cache shared by the session's runtimes, so a large component is compiled once."""
    path = guest_cache / "compiled"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A fresh Runtime whose compile cache is a temporary directory (no cross-test state)."""
    with Runtime(cache=tmp_path / "compile-cache") as rt:
        yield rt


@pytest.fixture(scope="session")
def wasi_probe(guest_cache: Path) -> Path:
    """`tests/guests/wasi_probe.c` built with zig as a WASI preview 1 command (see its header comment)."""
    from wasmhive.app.toolchains import zig_cc

    return zig_cc(GUESTS / "wasi_probe.c", cache_dir=guest_cache)


@pytest.fixture(scope="session")
def wasi_probe_component(wasi_probe: Path, guest_cache: Path) -> Path:
    """The same C program as a WASI 0.2 command component (wasm-tools + jco's preview 1 adapter)."""
    from wasmhive.app.toolchains import component_new

    return component_new(wasi_probe, adapter="command", cache_dir=guest_cache)


@pytest.fixture(scope="session")
def py_command(guest_cache: Path) -> Path:
    """`tests/guests/py_command/app.py` built with componentize-py as a `wasi:cli/command` (~18 MB)."""
    from wasmhive.app.toolchains import componentize_py, standard_wit

    return componentize_py(standard_wit("wasi:cli@0.2.0"), "wasi:cli/command@0.2.0",
                           GUESTS / "py_command" / "app.py", cache_dir=guest_cache)
