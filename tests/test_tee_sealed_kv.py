"""A sealed key-value namespace (`[key_value_store.<label>] sealed = true`): guests see plaintext, the
backend holds only sealed blobs bound to their key; tampering at rest is refused (real componentize-py
guest, real SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_fixtures import write_app
from test_kv_host import Host, probe_wasm
from wasmhive.app import RuntimeOptions
from wasmhive.capabilities import AppCapabilities
from wasmhive.capabilities.sealing._store import SealedStore
from wasmhive.errors import ConfigError
from wasmhive.runtime import Runtime

__all__ = ["probe_wasm"]

pytestmark = pytest.mark.slow

MANIFEST = """
[component.probe]
source = "probe.wasm"
key_value_stores = ["default"]
"""


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime() as rt:
        yield rt


def caps_for(tmp_path: Path, sealed: object) -> AppCapabilities:
    cfg = write_app(tmp_path, MANIFEST, runtime=RuntimeOptions(
        environ={"WASMHIVE_TEE_KEY_DIR": str(tmp_path / "keys")},
        runtime_config={"key_value_store": {"default": {"type": "spin", "sealed": sealed}}}))
    return AppCapabilities(cfg)


def raw_rows(tmp_path: Path) -> dict[str, bytes]:
    db = next((tmp_path / ".wasmhive").glob("*.db"))
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        rows: dict[str, bytes] = {}
        for t in tables:
            cols = [c[1] for c in conn.execute(f"pragma table_info({t})")]
            if "key" in cols and "value" in cols:
                rows.update({k: bytes(v) for k, v in conn.execute(f"select key, value from {t}")})
        return rows


def test_sealed_store_through_a_guest(tmp_path: Path, runtime: Runtime, probe_wasm: Path) -> None:
    caps = caps_for(tmp_path, True)
    try:
        host = Host(runtime, probe_wasm, caps)
        store = caps.state("key_value").stores["default"]
        assert isinstance(store, SealedStore)
        out = host.run("probe", "spin-open default", "spin-set default a secret-value", "spin-set default b other",
                       "spin-get default a", "wasi-open default", "inc default n 5", "inc default n 2",
                       "wasi-get default n")
        assert out == ["ok", "ok", "ok", "secret-value", "ok", "5", "7", "7"]
        rows = raw_rows(tmp_path)
        assert set(rows) >= {"a", "b", "n"}
        assert all(v.startswith(b"WHS\x01") for v in rows.values())  # sealed blobs at rest
        assert not any(b"secret-value" in v for v in rows.values())
        # A blob moved to another key at rest is refused (values are sealed together with their key).
        store.inner.set("a", rows["b"])
        got = host.run("probe", "spin-open default", "spin-get default a")[1]
        assert got.startswith("err:Other(") and "sealed for another key" in got, got
        assert host.run("probe", "spin-open default", "spin-get default b") == ["ok", "other"]
    finally:
        caps.close()


def test_sealed_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sealed must be true or false"):
        caps_for(tmp_path, "yes")
