"""Fixtures for the TEE tests: platform keys in a private directory, a signer key, the C probe guest."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmhive.tee import PlatformKeys, platform_keys

TEE_GUESTS = Path(__file__).parent / "guests" / "tee"


@pytest.fixture
def keys(tmp_path: Path) -> PlatformKeys:
    """Fresh platform keys (root + attestation) in files with mode 0600 under a temporary directory."""
    return platform_keys({}, tmp_path / "platform")


@pytest.fixture(scope="session")
def tee_probe(guest_cache: Path) -> Path:
    """`tests/guests/tee/tee_probe.c` built with zig (a WASI command importing `wasmhive_tee`)."""
    from wasmhive.app.toolchains import zig_cc

    return zig_cc(TEE_GUESTS / "tee_probe.c", cache_dir=guest_cache)


@pytest.fixture(scope="session")
def tee_probe_variant(guest_cache: Path) -> Path:
    """The same program built with -DVARIANT=2: another module, another measurement."""
    from wasmhive.app.toolchains import zig_cc

    return zig_cc(TEE_GUESTS / "tee_probe.c", flags=("-O2", "-s", "-DVARIANT=2"), cache_dir=guest_cache)
