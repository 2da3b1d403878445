"""Spin's SQLite interfaces (`fermyon:spin/sqlite@2.0.0`, `spin:sqlite/sqlite@3.0.0`) for a spin-sdk 3.4.1
guest under `wasmhive up spin.toml`, real HTTP over loopback, real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server, write_app
from sqlite_fixtures import sqlite_app
from wasmhive.app import RuntimeOptions
from wasmhive.capabilities.sqlite import SqliteError, SqliteFactor, open_databases
from wasmhive.errors import ConfigError


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_app(tmp_path_factory.mktemp("sqliteapp")).parent


@pytest.fixture
def fresh_app(app_dir: Path, tmp_path: Path) -> Path:
    """A copy of the built app with no state yet (the build is shared)."""
    import shutil

    for f in app_dir.iterdir():
        if f.is_file() and not f.name.startswith("server-"):
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


@pytest.fixture
def server(fresh_app: Path) -> Iterator[Server]:
    s = Server(fresh_app / "spin.toml", "--sqlite", f"@{fresh_app / 'migration.sql'}", "--timeout", "3s").wait(180)
    try:
        yield s
    finally:
        s.kill()


def test_sqlite_end_to_end(server: Server, fresh_app: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        # Every value type through parameters, and back with the columns' names.
        r = client.get("/types")
        assert r.status_code == 200, server.output()
        assert r.json() == {"columns": ["i", "r", "t", "b", "n", "tn"], "rows": [[
            ["integer", -9007199254740993], ["real", 2.5], ["text", "zß€ 'quoted'"], ["blob", "00ff62696e"],
            ["null", None], ["text", "null"]]]}
        # The migration's row and the one just inserted, in the app's state dir where Spin keeps it.
        assert client.get("/count").json() == {"count": 2}
        with sqlite3.connect(fresh_app / ".wasmhive" / "sqlite_db.db") as db:
            assert db.execute("SELECT t FROM things ORDER BY rowid").fetchall() == [("seeded",), ("zß€ 'quoted'",)]
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # `other` is granted and configured in the app's runtime-config.toml: its own file.
        assert client.get("/open?other").json() == {"answer": 42, "columns": ["answer"]}
        assert (fresh_app / "data" / "other.db").is_file()
        # `secret` is configured but not granted, `nope` does not exist: both access-denied (Spin's order).
        assert client.get("/open?secret").json() == {"error": "Error_AccessDenied"}
        assert client.get("/open?nope").json() == {"error": "Error_AccessDenied"}
        assert not (fresh_app / "data" / "secret.db").exists()
        # Bad SQL: the WIT's io error carrying SQLite's message.
        assert client.get("/bad").json() == {"error": 'Error_Io: near "SELEC": syntax error'}
        # A runaway statement is ended by the request's deadline (504); the next request works.
        r = client.get("/runaway")
        assert r.status_code == 504
        assert "ran past its 3s deadline" in server.output()
        assert client.get("/count").json() == {"count": 2}
        # Spin 3's interface: last-insert-rowid and changes of this connection.
        assert client.get("/v3").json() == {"before": 0, "rowid": 3, "inserted": 1, "updated": 1, "text": "v3"}
        # A transaction the guest leaves open is rolled back when its instance ends, and holds no lock.
        assert client.get("/txn").json() == {"left": "open"}
        assert client.get("/count").json() == {"count": 3}
        assert client.get("/v3").json()["inserted"] == 1


def test_sqlite_with_workers(fresh_app: Path) -> None:
    """Two worker processes on one file: every write lands; the migration ran once (one seeded row)."""
    server = Server(fresh_app / "spin.toml", "--sqlite", f"@{fresh_app / 'migration.sql'}", "--workers", "2").wait(180)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: client.get("/v3"), range(60)))
            assert [r.status_code for r in results] == [200] * 60, server.output()
            assert all(r.json()["inserted"] == 1 for r in results)
            assert len({r.json()["rowid"] for r in results}) == 60
            assert client.get("/count").json() == {"count": 61}
    finally:
        server.kill()


def _up(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", str(app / "spin.toml"),
                           "--listen", "127.0.0.1:0", *args], capture_output=True, text=True, timeout=120)


def test_sqlite_failing_migration_refuses_start(fresh_app: Path) -> None:
    proc = _up(fresh_app, "--sqlite", "CREATE TABLE t (x); INSERT INTO nowhere VALUES (1)")
    assert proc.returncode == 64, proc.stderr
    assert "--sqlite: no such table: nowhere" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _up(fresh_app, "--sqlite", f"@{fresh_app / 'missing.sql'}")
    assert proc.returncode == 64 and "cannot read" in proc.stderr and "missing.sql" in proc.stderr


def test_sqlite_unconfigured_database_refuses_start(fresh_app: Path) -> None:
    (fresh_app / "runtime-config.toml").unlink()
    proc = _up(fresh_app)
    assert proc.returncode == 64, proc.stderr
    assert "uses SQLite database 'other', which is not configured" in proc.stderr


@pytest.mark.parametrize(("databases", "config", "message"), [
    (["x"], {"x": {"type": "libsql", "url": "https://db.example", "token": "t"}}, "libSQL/Turso databases are not"),
    (["x"], {"x": {"type": "postgres"}}, "type must be \"spin\""),
    (["x"], {"x": {"type": ["spin"]}}, "type must be \"spin\""),
    (["x"], {"x": {"type": "spin", "colour": "red"}}, "unknown field"),
    (["x"], {"x": {"type": "spin", "path": "../outside.db"}}, "must not contain `..`"),
    (["x y"], {"x y": {"type": "spin"}}, "needs a `path`"),
])
def test_sqlite_config_errors(tmp_path: Path, databases: list[str], config: dict[str, object], message: str) -> None:
    cfg = write_app(tmp_path, f'[component.a]\nsource = "a.wasm"\nsqlite_databases = {databases!r}\n'.replace("'", '"'),
                    runtime=RuntimeOptions(runtime_config={"sqlite_database": config}))
    with pytest.raises(ConfigError, match=message):
        open_databases(cfg)


def test_sqlite_connections_are_confined(tmp_path: Path) -> None:
    """A guest's SQL cannot reach another file (ATTACH, VACUUM INTO), handles are per instance, and
    a full database answers `database-full`."""
    cfg = write_app(tmp_path, '[component.a]\nsource = "a.wasm"\nsqlite_databases = ["default"]\n'
                    '[component.b]\nsource = "b.wasm"\n', runtime=RuntimeOptions())
    factor = SqliteFactor()
    state = factor.configure(cfg)
    a, b = factor.prepare(state, "a"), factor.prepare(state, "b")
    try:
        with pytest.raises(SqliteError) as denied:
            b.open("default")
        assert denied.value.tag == "access-denied"
        conn = a.connection(a.open("default"))
        for sql in (f"ATTACH DATABASE '{tmp_path / 'x.db'}' AS x", f"VACUUM INTO '{tmp_path / 'y.db'}'"):
            with pytest.raises(SqliteError, match=r"not authorized|authorization denied") as e:
                conn.execute(sql, [], None)
            assert e.value.tag == "io"
        assert not (tmp_path / "x.db").exists() and not (tmp_path / "y.db").exists()
        conn.execute("VACUUM", [], None)  # in place, no other file: allowed
        with pytest.raises(SqliteError) as invalid:
            a.connection(12345)
        assert invalid.value.tag == "invalid-connection"
        conn.execute("CREATE TABLE big (b BLOB)", [], None)
        conn.execute("PRAGMA max_page_count = 16", [], None)
        with pytest.raises(SqliteError) as full:
            conn.execute("INSERT INTO big VALUES (zeroblob(1000000))", [], None)
        assert full.value.tag == "database-full"
    finally:
        a.close()
        b.close()


def test_sqlite_bad_input_and_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad statements and parameters from a guest are `io` errors with SQLite's message; results and open
    connections are bounded; a handle the instance does not hold is `invalid-connection`."""
    from wasmhive.capabilities.sqlite import _database, _host

    cfg = write_app(tmp_path, '[component.a]\nsource = "a.wasm"\nsqlite_databases = ["default"]\n',
                    runtime=RuntimeOptions())
    factor = SqliteFactor()
    a = factor.prepare(factor.configure(cfg), "a")
    try:
        conn = a.connection(a.open("default"))
        conn.execute("CREATE TABLE t (x)", [], None)
        for sql, params, message in [
            ("INSERT INTO t VALUES (?)", [], "Incorrect number of bindings"),
            ("INSERT INTO t VALUES (1); DROP TABLE t", [], "one statement at a time"),
            ("SELECT 1\0", [], "null character"),
        ]:
            with pytest.raises(SqliteError, match=message) as e:
                conn.execute(sql, params, None)
            assert e.value.tag == "io"
        assert conn.execute("SELECT count(*) FROM t", [], None).rows == [[0]]  # the DROP never ran
        monkeypatch.setattr(_database, "MAX_RESULT_BYTES", 1000)
        with pytest.raises(SqliteError, match="query result larger than") as e:
            conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) "
                         "SELECT x, 'some text' FROM c", [], None)
        assert e.value.tag == "io"
        while len(a.handles) < _host.MAX_CONNECTIONS:
            a.open("default")
        with pytest.raises(SqliteError, match="open connections") as e:
            a.open("default")
        rep = next(iter(a.handles))
        a.drop(rep)
        with pytest.raises(SqliteError) as e:
            a.connection(rep)
        assert e.value.tag == "invalid-connection"
    finally:
        a.close()


def test_sqlite_calls_are_observed(fresh_app: Path) -> None:
    """`up --metrics` counts SQLite calls by operation and outcome (the WIT error case, or `deadline`)."""
    parser = pytest.importorskip("prometheus_client.parser")
    server = Server(fresh_app / "spin.toml", "--sqlite", f"@{fresh_app / 'migration.sql'}", "--timeout", "3s",
                    "--metrics").wait(180)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for path, status in (("/open?other", 200), ("/open?secret", 403), ("/bad", 400), ("/runaway", 504)):
                assert client.get(path).status_code == status, server.output()
            text = client.get("/metrics").text
    finally:
        server.kill()
    calls = {(s.labels["op"], s.labels["outcome"]): s.value for f in parser.text_string_to_metric_families(text)
             for s in f.samples if s.name == "wasmhive_capability_calls_total" and s.labels["capability"] == "sqlite"}
    assert calls == {("open", "ok"): 3, ("open", "access-denied"): 1, ("execute", "ok"): 1, ("execute", "io"): 1,
                     ("execute", "deadline"): 1}
