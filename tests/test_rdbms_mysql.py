"""Spin's outbound MySQL (`fermyon:spin/mysql@2.0.0`) for a spin-sdk 3.4.1 guest under `wasmhive up
spin.toml`, against a real MariaDB server. (spin-sdk 3.4.1 ships no `spin:mysql@3.0.0`.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server
from rdbms_fixtures import MariaDB, mariadb_server, q, rdbms_app, run, silent_port, x  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def server(rdbms_app: Path, mariadb_server: MariaDB, silent_port: int) -> Iterator[Server]:  # noqa: F811
    srv = Server(rdbms_app, "--timeout", "3s", env={"SPIN_VARIABLE_MYSQL_PORT": str(mariadb_server.port),
                                                   "SPIN_VARIABLE_PG_PORT": str(silent_port)})
    try:
        yield srv.wait()
    finally:
        srv.kill()


def test_every_value_type_with_nulls(server: Server, mariadb_server: MariaDB) -> None:  # noqa: F811
    db = mariadb_server
    cols = ("ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint, i int, "
            "iu int unsigned, bi bigint, biu bigint unsigned, f float, d double, s varchar(50), t text, "
            "vb varbinary(10), bl blob, de decimal(10,3), dt datetime, da date, y year, bo boolean")
    names = [c.split()[0] for c in cols.split(", ")]
    insert = f"INSERT INTO v ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    out = run(server, "mysql", db.url,
              x("DROP TABLE IF EXISTS v"),
              x(f"CREATE TABLE v (id int auto_increment primary key, {cols})"),
              x(insert, ["Int8", -128], ["Uint8", 255], ["Int16", -32768], ["Uint16", 65535], ["Int32", -8388608],
                ["Int32", 2_000_000_000], ["Uint32", 4_000_000_000], ["Int64", -9_000_000_000_000],
                ["Uint64", 18_000_000_000_000_000_000], ["Floating32", 1.5], ["Floating64", 2.25],
                ["Str", "it's \\ \"q\" ?"], ["Str", "héllo ✓"], ["Binary", "00ff27"], ["Binary", "5c00"],
                ["Str", "12.345"], ["Str", "2024-02-29 13:14:15"], ["Str", "2024-02-29"], ["Int32", 2024],
                ["Boolean", True]),
              x(insert, *[["DbNull"]] * len(names)),
              q(f"SELECT {', '.join(names)} FROM v ORDER BY id"))
    assert out[:4] == [{"ok": None}] * 4  # mysql's execute answers nothing
    rows = out[4]["ok"]
    assert rows["columns"] == [[n, t] for n, t in zip(names, [
        "int8", "uint8", "int16", "uint16", "int32", "int32", "uint32", "int64", "uint64", "floating32",
        "floating64", "str", "str", "binary", "binary", "str", "str", "str", "uint16", "int8"], strict=True)]
    assert rows["rows"][0] == [
        ["Int8", -128], ["Uint8", 255], ["Int16", -32768], ["Uint16", 65535], ["Int32", -8388608],
        ["Int32", 2_000_000_000], ["Uint32", 4_000_000_000], ["Int64", -9_000_000_000_000],
        ["Uint64", 18_000_000_000_000_000_000], ["Floating32", 1.5], ["Floating64", 2.25],
        ["Str", "it's \\ \"q\" ?"], ["Str", "héllo ✓"], ["Binary", {"hex": "00ff27"}], ["Binary", {"hex": "5c00"}],
        ["Str", "12.345"], ["Str", "2024-02-29 13:14:15"], ["Str", "2024-02-29"], ["Uint16", 2024], ["Int8", 1]]
    assert rows["rows"][1] == [["DbNull"]] * len(names)
    assert db.sql("SELECT s, HEX(vb) FROM v WHERE id = 1") == [("it's \\ \"q\" ?", "00FF27")]


def test_placeholders_and_parameters(server: Server, mariadb_server: MariaDB) -> None:  # noqa: F811
    out = run(server, "mysql", mariadb_server.url,
              q("SELECT '?' AS a, ? AS b, `?` FROM (SELECT 1 AS `?`) t -- ?\n WHERE ? /* ? */", ["Str", "x'y"],
                ["Boolean", True]),
              q("SELECT ? AS a", ["Int32", 1], ["Int32", 2]),
              q("SELECT ?, ? AS a", ["Int32", 1]),
              x("INSERT INTO v (s) VALUES (?)", ["Str", "'); DROP TABLE v; --"]),
              q("SELECT count(*) AS n FROM v WHERE s = ?", ["Str", "'); DROP TABLE v; --"]))
    assert out[0] == {"ok": {"columns": [["a", "str"], ["b", "str"], ["?", "int32"]],
                             "rows": [[["Str", "?"], ["Str", "x'y"], ["Int32", 1]]]}}
    assert out[1]["err"] == "Error_BadParameter" and out[2]["err"] == "Error_BadParameter"
    assert out[3] == {"ok": None}
    assert out[4] == {"ok": {"columns": [["n", "int64"]], "rows": [[["Int64", 1]]]}}


def test_bad_sql_is_query_failed(server: Server, mariadb_server: MariaDB) -> None:  # noqa: F811
    out = run(server, "mysql", mariadb_server.url, q("SELEC 1"), x("INSERT INTO nope VALUES (1)"), q("SELECT 1 AS one"))
    assert out[0]["err"] == "Error_QueryFailed" and "1064" in out[0]["msg"] and "syntax" in out[0]["msg"]
    assert out[1]["err"] == "Error_QueryFailed" and "nope" in out[1]["msg"]
    assert out[2] == {"ok": {"columns": [["one", "int32"]], "rows": [[["Int32", 1]]]}}


def test_hosts_not_allowed(server: Server, mariadb_server: MariaDB) -> None:  # noqa: F811
    port = mariadb_server.port
    for address in (f"mysql://spin:spinpw@127.0.0.1:{port + 1}/spin", f"mysql://spin:spinpw@localhost:{port}/spin",
                    f"mysql://spin:spinpw@127.0.0.2:{port}/spin"):
        out = run(server, "mysql", address, q("SELECT 1"))
        assert out[0]["err"] == "Error_ConnectionFailed" and "not permitted" in out[0]["msg"], out
    out = run(server, "mysql", f"postgres://127.0.0.1:{port}/spin", q("SELECT 1"))
    assert out[0]["err"] == "Error_ConnectionFailed" and "mysql://" in out[0]["msg"]
    out = run(server, "mysql", f"mysql://spin:wrong@127.0.0.1:{port}/spin", q("SELECT 1"))
    assert out[0]["err"] == "Error_ConnectionFailed" and "1045" in out[0]["msg"]  # access denied


def test_server_down_nothing_acknowledged_is_lost(server: Server, mariadb_server: MariaDB) -> None:  # noqa: F811
    db = mariadb_server
    assert run(server, "mysql", db.url, x("CREATE TABLE IF NOT EXISTS down (v text)"),
               x("INSERT INTO down VALUES (?)", ["Str", "before"])) == [{"ok": None}, {"ok": None}]
    db.stop()
    try:
        out = run(server, "mysql", db.url, x("INSERT INTO down VALUES (?)", ["Str", "during"]))
        assert out[0]["err"] in ("Error_QueryFailed", "Error_ConnectionFailed"), out
        out = run(server, "mysql", db.url, x("INSERT INTO down VALUES (?)", ["Str", "during"]))
        assert out[0]["err"] == "Error_ConnectionFailed", out
    finally:
        db.start()
    out = run(server, "mysql", db.url, q("SELECT v FROM down ORDER BY v"))
    assert out == [{"ok": {"columns": [["v", "str"]], "rows": [[["Str", "before"]]]}}]


def test_long_query_ended_by_deadline(server: Server, mariadb_server: MariaDB) -> None:  # noqa: F811
    started = time.monotonic()
    run(server, "mysql", mariadb_server.url, q("SELECT SLEEP(60)"), status=504)
    assert time.monotonic() - started < 50  # ended by the 3 s deadline, not by the sleep (bound only)
    deadline = time.monotonic() + 10
    while mariadb_server.sql("SELECT count(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'",
                             database=None) != [(0,)]:
        assert time.monotonic() < deadline, "SLEEP still running on the server"
        time.sleep(0.1)
    out = run(server, "mysql", mariadb_server.url, q("SELECT 2 AS two"))
    assert out == [{"ok": {"columns": [["two", "int32"]], "rows": [[["Int32", 2]]]}}]


def test_result_too_big_for_a_guest_is_refused(server: Server, mariadb_server: MariaDB) -> None:  # noqa: F811
    # 70 rows of 1 MB: more than the 64 MiB a query may hand a guest; refused while the rows arrive
    out = run(server, "mysql", mariadb_server.url, q("SELECT REPEAT('x', 1000000) AS r FROM seq_1_to_70"),
              q("SELECT 1 AS one"))
    assert out[0]["err"] == "Error_QueryFailed" and "larger than 64 MiB" in out[0]["msg"]
    assert out[1]["err"] == "Error_QueryFailed"  # that connection was closed (the rest of the result unread)
    out = run(server, "mysql", mariadb_server.url, q("SELECT 1 AS one"))  # and never reused
    assert out == [{"ok": {"columns": [["one", "int32"]], "rows": [[["Int32", 1]]]}}]


def test_silent_server_cannot_hold_the_guest(server: Server, silent_port: int) -> None:  # noqa: F811
    """A PostgreSQL address that accepts and never answers: the request ends by its 3 s deadline (504, or
    the guest's connection-failed when libpq's connect timeout came first), and nothing stays stuck."""
    started = time.monotonic()
    r = httpx.post(server.url + "/db", json={"iface": "pg2", "address": f"host=127.0.0.1 port={silent_port} user=x",
                                             "ops": []}, timeout=60)
    assert time.monotonic() - started < 30  # bound only
    assert r.status_code == 504 or r.json()[0]["err"] == "Error_ConnectionFailed", r.text
