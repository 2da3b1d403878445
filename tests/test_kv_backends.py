"""Key-value backends over real SQLite and a real redis-server; store config; durability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_fixtures import redis_url, write_app
from wasmhive.app import RuntimeOptions
from wasmhive.capabilities.key_value import (
    KeyValueBackend,
    KeyValueError,
    KeyValueFactor,
    RedisStore,
    SqliteDatabase,
    open_stores,
)
from wasmhive.errors import ConfigError

__all__ = ["redis_url"]


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueBackend]:
    if request.param == "sqlite":
        db = SqliteDatabase(tmp_path / "kv.db")
        yield db.store("default")
        db.close()
    else:
        url = request.getfixturevalue("redis_url")
        s = RedisStore("default", url, prefix=f"t{os.getpid()}-{request.node.name}:")
        s.delete_many(s.keys())
        yield s
        s.delete_many(s.keys())
        s.close()


def test_basic_operations(store: KeyValueBackend) -> None:
    assert store.get("a") is None and not store.exists("a")
    store.set("a", b"\x00\x01binary")
    store.set("b", b"2")
    assert store.get("a") == b"\x00\x01binary" and store.exists("a")
    store.set("a", b"overwritten")
    assert store.get("a") == b"overwritten"
    assert store.keys() == ["a", "b"]
    store.delete("a")
    store.delete("missing")
    assert store.keys() == ["b"]


def test_batch_and_atomics(store: KeyValueBackend) -> None:
    store.set_many([("x", b"1"), ("y", b"2")])
    assert store.get_many(["x", "nope", "y"]) == [b"1", None, b"2"]
    store.delete_many(["x", "y"])
    assert store.keys() == []
    assert store.increment("n", 5) == 5 and store.increment("n", -2) == 3
    assert store.get("n") == b"3"
    assert store.compare_and_swap("c", None, b"first")
    assert not store.compare_and_swap("c", None, b"second")
    assert store.compare_and_swap("c", b"first", b"third")
    assert store.get("c") == b"third"


def test_increment_is_atomic_across_threads(store: KeyValueBackend) -> None:
    def work() -> None:
        for _ in range(50):
            store.increment("counter", 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("counter") == b"200"


def test_increment_on_non_integer(store: KeyValueBackend) -> None:
    store.set("s", b"text")
    with pytest.raises(KeyValueError):
        store.increment("s", 1)


def test_sqlite_is_wal_and_survives_reopen(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "kv.db")
    db.store("default").set("k", b"v")
    assert db.conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    db2 = SqliteDatabase(tmp_path / "kv.db")
    assert db2.store("default").get("k") == b"v"
    assert db2.store("other").get("k") is None  # labels are separate stores
    db2.close()


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from wasmhive.capabilities.key_value import SqliteDatabase
    store = SqliteDatabase(Path(sys.argv[1])).store("default")
    i = 0
    while True:
        store.set(f"key-{i:06d}", b"value-%d" % i)
        print(i, flush=True)  # acknowledged only after set() returned
        i += 1
""")


def test_sqlite_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)  # mid-write: the writer never stops on its own
    proc.wait()
    proc.stdout.close()
    db = SqliteDatabase(path)
    store = db.store("default")
    keys = set(store.keys())
    missing = [i for i in range(acked + 1) if f"key-{i:06d}" not in keys]
    assert missing == []
    assert store.get(f"key-{acked:06d}") == b"value-%d" % acked
    db.close()


def test_redis_unreachable_is_a_startup_error(tmp_path: Path) -> None:
    from app_fixtures import free_port

    cfg = write_app(tmp_path, '[component.a]\nsource = "a.wasm"\nkey_value_stores = ["shared"]\n',
                    runtime=RuntimeOptions(runtime_config={"key_value_store": {
                        "shared": {"type": "redis", "url": f"redis://127.0.0.1:{free_port()}"}}}))
    with pytest.raises(ConfigError, match="cannot reach Redis"):
        open_stores(cfg)


def test_store_config_and_access(tmp_path: Path, redis_url: str) -> None:
    manifest = """
[component.a]
source = "a.wasm"
key_value_stores = ["default", "shared"]
[component.b]
source = "b.wasm"
"""
    cfg = write_app(tmp_path, manifest, runtime=RuntimeOptions(
        runtime_config={"key_value_store": {"shared": {"type": "redis", "url": redis_url, "prefix": "cfgtest:"}}},
        key_value_seed=[("seeded", "yes")]))
    factor = KeyValueFactor()
    state = factor.configure(cfg)
    try:
        assert (tmp_path / ".wasmhive" / "key_value.db").is_file()
        a = factor.prepare(state, "a")
        b = factor.prepare(state, "b")
        assert isinstance(a.open("default"), int) and isinstance(a.open("shared"), int)
        assert a.open("nope") == "access-denied"
        assert b.open("default") == "access-denied"  # not listed in key_value_stores: denied
        assert state.stores["default"].get("seeded") == b"yes"
        assert isinstance(state.stores["shared"], RedisStore)
    finally:
        state.close()


@pytest.mark.parametrize(("stores", "config", "message"), [
    (["cache"], {}, "uses key-value store 'cache', which is not configured"),
    (["x"], {"x": {"type": "memcached"}}, "type must be"),
    (["x"], {"x": {"type": "redis", "url": "http://nope"}}, "needs url"),
    (["x"], {"x": {"type": "spin", "colour": "red"}}, "unknown field"),
])
def test_store_config_errors(tmp_path: Path, stores: list[str], config: dict[str, object], message: str) -> None:
    cfg = write_app(tmp_path, f'[component.a]\nsource = "a.wasm"\nkey_value_stores = {stores!r}\n'.replace("'", '"'),
                    runtime=RuntimeOptions(runtime_config={"key_value_store": config}))
    with pytest.raises(ConfigError, match=message):
        open_stores(cfg)
