"""A Spin app written with spin-sdk 3.4.1 runs unchanged under `wasmhive up spin.toml`: every import of
Spin's platform world links; the interfaces we back work, the others answer with their own error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app_fixtures import Server, spin_sdk_example


@pytest.fixture(scope="module")
def spin_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return spin_sdk_example(tmp_path_factory.mktemp("spinsdk")).parent


def test_spin_sdk_app_unchanged(spin_app: Path) -> None:
    server = Server(spin_app / "spin.toml", env={"SPIN_VARIABLE_GREETING": "hello from env"}).wait()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.get("/spin/a/b")
            assert r.status_code == 200, server.output()
            assert r.text == "hello from env #1 GET /a/b"
            assert client.post("/spin/x").text == "hello from env #2 POST /x"
            # mysql is backed (capabilities/rdbms) and redis too (tests/test_outbound_redis.py), but this app allows
            # no outbound host: mysql answers connection-failed, redis invalid-address.
            r = client.get("/spin/unbacked")
            assert (r.status_code, r.text) == (503, "mysql: Error_ConnectionFailed\nredis: Error_InvalidAddress")
    finally:
        server.kill()
