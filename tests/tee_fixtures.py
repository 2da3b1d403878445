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


def _pyguest(guest_cache: Path, variant: str) -> Path:
    from wasmhive.app.teewit import http_guest_wit
    from wasmhive.app.toolchains import componentize_py

    # Fixed directories under the guest cache: the build key includes their paths and bytes.
    wit = http_guest_wit(guest_cache / "tee-http-wit")
    src = (TEE_GUESTS / "pyguest" / "app.py").read_text()
    app_dir = guest_cache / f"tee-pyguest-{variant}"
    app_dir.mkdir(exist_ok=True)
    text = src.replace('VARIANT = "one"', f'VARIANT = "{variant}"')
    if not (app_dir / "app.py").is_file() or (app_dir / "app.py").read_text() != text:
        (app_dir / "app.py").write_text(text)
    return componentize_py(wit, "wasmhive:tee-guest/http-guest", app_dir / "app.py", cache_dir=guest_cache)


@pytest.fixture(scope="session")
def tee_pyguest(guest_cache: Path) -> Path:
    """`tests/guests/tee/pyguest/app.py` (componentize-py, imports wasmhive:tee, exports wasi:http)."""
    return _pyguest(guest_cache, "one")


@pytest.fixture(scope="session")
def tee_pyguest_two(guest_cache: Path) -> Path:
    """The same guest with another constant: another component, another measurement."""
    return _pyguest(guest_cache, "two")
