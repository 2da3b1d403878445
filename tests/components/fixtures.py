"""Component test fixtures: the kitchen-sink guest and the docs:math providers, built once per session.

Import the fixtures into a test module (`from components.fixtures import kitchen_wasm  # noqa: F401`).
Builds go through `wasmhive.app.toolchains` into the session's guest cache, keyed by source hash.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmhive import Runtime

from .hosts import Sink, kitchen_imports

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples" / "components"


def _examples_build() -> Any:
    spec = importlib.util.spec_from_file_location("wasmhive_examples_components_build", EXAMPLES / "build.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


examples_build = _examples_build()


@pytest.fixture(scope="session")
def crt(compile_cache: Path) -> Iterator[Runtime]:
    """A session runtime for component tests: each large guest is compiled once per session."""
    with Runtime(cache=compile_cache) as rt:
        yield rt


@pytest.fixture(scope="session")
def kitchen_wasm(guest_cache: Path) -> Path:
    """tests/components/kitchen: every WIT type echoed, a resource, calls into `sink` and `ops` imports."""
    from wasmhive.app.toolchains import componentize_py

    return componentize_py(HERE / "kitchen" / "wit", "test:kitchen/kitchen", HERE / "kitchen" / "app.py",
                           cache_dir=guest_cache)


@pytest.fixture(scope="session")
def kitchen_sink() -> Sink:
    return Sink()


@pytest.fixture(scope="session")
def kitchen(crt: Runtime, kitchen_wasm: Path, kitchen_sink: Sink) -> Any:
    """The kitchen component with Python imports (one long-lived default instance)."""
    return crt.component(kitchen_wasm, imports=kitchen_imports(sink=kitchen_sink))


@pytest.fixture(scope="session")
def echo(kitchen: Any) -> Any:
    return kitchen.exports.echo


def _math(name: str, guest_cache: Path) -> Path:
    if name == "js":
        why = examples_build.js_unavailable()
        if why:
            pytest.skip(f"JavaScript provider: {why}")
    return examples_build.BUILDERS[name](cache_dir=guest_cache)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def math_c(guest_cache: Path) -> Path:
    return _math("c", guest_cache)


@pytest.fixture(scope="session", params=["c", "python", "js"])
def math_provider(request: pytest.FixtureRequest, guest_cache: Path) -> tuple[str, Path]:
    """Each docs:math provider in turn: (language, component path)."""
    return request.param, _math(request.param, guest_cache)
