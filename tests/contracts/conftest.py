"""Fixtures for the contract VM tests: real Motoko canisters, built once per session (cached by source hash)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmhive.contracts import ContractVM, build_motoko
from wasmhive.runtime import EngineSettings, Runtime

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples" / "contracts"
SOURCES = {
    "counter": EXAMPLES / "Counter.mo",
    "token": EXAMPLES / "Token.mo",
    "lab": HERE / "mo" / "Lab.mo",
    "caller": HERE / "mo" / "Caller.mo",
    "counter_v2": HERE / "mo" / "v2" / "Counter.mo",
    "counter_bad": HERE / "mo" / "bad" / "Counter.mo",
}


@pytest.fixture(scope="session")
def canisters() -> dict[str, bytes]:
    """name -> canister Wasm, compiled by the real Motoko compiler (npm `motoko`, offline)."""
    if shutil.which("node") is None:
        pytest.fail("the contract tests need Node.js to compile Motoko (see .ci/run)")
    return {name: build_motoko(src)[0] for name, src in SOURCES.items()}


@pytest.fixture(scope="session")
def runtime() -> Iterator[Runtime]:
    with Runtime(EngineSettings.deterministic()) as rt:
        yield rt


@pytest.fixture
def vm(runtime: Runtime) -> Iterator[ContractVM]:
    """An in-memory VM with a fixed clock (deterministic time)."""
    with ContractVM(None, runtime=runtime, clock=lambda: 1_700_000_000_000_000_000) as v:
        yield v
