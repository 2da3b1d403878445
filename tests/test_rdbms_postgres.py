"""Spin's outbound PostgreSQL (`fermyon:spin/postgres@2.0.0`, `spin:postgres/postgres@3.0.0` and `@4.0.0`)
for a spin-sdk 3.4.1 guest under `wasmhive up spin.toml`, against a real PostgreSQL 15 server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server
from rdbms_fixtures import Postgres, postgres_server, q, rdbms_app, run, silent_port, x  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def server(rdbms_app: Path, postgres_server: Postgres, silent_port: int) -> Iterator[Server]:  # noqa: F811
    srv = Server(rdbms_app, "--timeout", "3s", env={"SPIN_VARIABLE_PG_PORT": str(postgres_server.port),
                                                   "SPIN_VARIABLE_MYSQL_PORT": str(silent_port)})
    try:
        yield srv.wait()
    finally:
        srv.kill()


def test_v2_every_value_type_with_nulls(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    pg = postgres_server
    out = run(server, "pg2", pg.address,
              x("DROP TABLE IF EXISTS v2"),
              x("CREATE TABLE v2 (id serial, b bool, i1 smallint, i2 smallint, i4 int, i8 bigint, f4 real, "
                "f8 double precision, s text, vc varchar(40), bin bytea, ch \"char\")"),
              x("INSERT INTO v2 (b, i1, i2, i4, i8, f4, f8, s, vc, bin, ch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10, 'A')",
                ["Boolean", True], ["Int8", -8], ["Int16", -300], ["Int32", 2_000_000_000],
                ["Int64", -9_000_000_000_000], ["Floating32", 1.5], ["Floating64", 2.25], ["Str", "héllo"],
                ["Str", "x'; DROP TABLE v2; --"], ["Binary", "00ff10"]),
              x("INSERT INTO v2 (b, i1, i2, i4, i8, f4, f8, s, vc, bin, ch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10, NULL)", *[["DbNull"]] * 10),
              q("SELECT b, i1, i2, i4, i8, f4, f8, s, vc, bin, ch, now() AS t FROM v2 WHERE i4 = $1 OR i4 IS NULL "
                "ORDER BY id", ["Int32", 2_000_000_000]),
              x("UPDATE v2 SET s = $1", ["Str", "both"]),
              x("INSERT INTO v2 (i8) VALUES ($1)", ["Uint32", 1]))
    assert out[:4] == [{"ok": 0}, {"ok": 0}, {"ok": 1}, {"ok": 1}]
    rows = out[4]["ok"]
    assert rows["columns"] == [["b", "boolean"], ["i1", "int16"], ["i2", "int16"], ["i4", "int32"],
                               ["i8", "int64"], ["f4", "floating32"], ["f8", "floating64"], ["s", "str"],
                               ["vc", "str"], ["bin", "binary"], ["ch", "int8"], ["t", "other"]]
    first, second = rows["rows"]
    assert first[:11] == [["Boolean", True], ["Int16", -8], ["Int16", -300], ["Int32", 2_000_000_000],
                          ["Int64", -9_000_000_000_000], ["Floating32", 1.5], ["Floating64", 2.25], ["Str", "héllo"],
                          ["Str", "x'; DROP TABLE v2; --"], ["Binary", {"hex": "00ff10"}], ["Int8", 65]]
    assert first[11] == ["Unsupported"]  # timestamptz is not a 2.0 type
    assert second[:11] == [["DbNull"]] * 11
    assert out[5] == {"ok": 2}  # execute answers the number of rows changed
    assert out[6]["err"] == "Error_BadParameter" and "unsigned" in out[6]["msg"]
    assert pg.sql("SELECT count(*), min(s) FROM v2") == [(2, "both")]  # the unsigned insert stored nothing


def test_v3_dates_and_times(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    out = run(server, "pg3", postgres_server.address,
              x("DROP TABLE IF EXISTS v3"),
              x("CREATE TABLE v3 (d date, t time, ts timestamp, tz timestamptz, u uuid)"),
              x("INSERT INTO v3 VALUES ($1, $2, $3, $4, NULL)", ["Date", [2024, 2, 29]], ["Time", [13, 14, 15, 123456000]],
                ["Datetime", [1999, 12, 31, 23, 59, 58, 500000000]], ["Timestamp", 1_700_000_000]),
              x("INSERT INTO v3 VALUES ($1, $2, $3, $4, gen_random_uuid())", *[["DbNull"]] * 4),
              q("SELECT d, t, ts, tz, u FROM v3 ORDER BY d NULLS LAST"),
              x("INSERT INTO v3 (d) VALUES ($1)", ["Date", [2024, 2, 30]]))
    assert out[:4] == [{"ok": 0}, {"ok": 0}, {"ok": 1}, {"ok": 1}]
    rows = out[4]["ok"]
    assert rows["columns"] == [["d", "date"], ["t", "time"], ["ts", "datetime"], ["tz", "datetime"], ["u", "other"]]
    assert rows["rows"][0] == [["Date", [2024, 2, 29]], ["Time", [13, 14, 15, 123456000]],
                               ["Datetime", [1999, 12, 31, 23, 59, 58, 500000000]],
                               ["Datetime", [2023, 11, 14, 22, 13, 20, 0]], ["DbNull"]]
    assert rows["rows"][1][:4] == [["DbNull"]] * 4 and rows["rows"][1][4] == ["Unsupported"]
    assert out[5]["err"] == "Error_BadParameter"  # February 30th


def test_v4_extended_types(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    uid = "0b8f6c8e-93f5-4a7e-9d43-3c1f0e8e2b11"
    out = run(server, "pg4", postgres_server.address,
              x("DROP TABLE IF EXISTS v4"),
              x("CREATE TABLE v4 (u uuid, j jsonb, n numeric, r4 int4range, r8 int8range, rn numrange, a4 int4[], "
                "a8 int8[], an numeric[], ast text[], iv interval, p point, d date)"),
              x("INSERT INTO v4 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, point(1, 2), $12)",
                ["Uuid", uid], ["Jsonb", b'{"a": [1, 2]}'.hex()], ["Decimal", "12345678901234567890.000001"],
                ["RangeInt32", [[1, "inclusive"], [10, "exclusive"]]], ["RangeInt64", [None, [5_000_000_000, "inclusive"]]],
                ["RangeDecimal", [["1.5", "exclusive"], None]], ["ArrayInt32", [1, None, 3]],
                ["ArrayInt64", [9_000_000_000]], ["ArrayDecimal", ["0.1", None]], ["ArrayStr", ["a", None, "ç"]],
                ["Interval", {"micros": 3_000_001, "days": 2, "months": 14}], ["Date", [2020, 1, 1]]),
              q("SELECT * FROM v4"),
              q("SELECT * FROM nope"),
              x("INSERT INTO v4 (u) VALUES ($1)", ["Uuid", "not-a-uuid"]),
              x("INSERT INTO v4 (n) VALUES ($1)", ["Decimal", "twelve"]))
    assert out[:3] == [{"ok": 0}, {"ok": 0}, {"ok": 1}]
    rows = out[3]["ok"]
    assert rows["columns"] == [["u", ["Uuid"]], ["j", ["Jsonb"]], ["n", ["Decimal"]], ["r4", ["RangeInt32"]],
                               ["r8", ["RangeInt64"]], ["rn", ["RangeDecimal"]], ["a4", ["ArrayInt32"]],
                               ["a8", ["ArrayInt64"]], ["an", ["ArrayDecimal"]], ["ast", ["ArrayStr"]],
                               ["iv", ["Interval"]], ["p", ["Other", "point"]], ["d", ["Date"]]]
    row = rows["rows"][0]
    assert row[0] == ["Uuid", uid]
    assert bytes.fromhex(row[1][1]["hex"]) == b'{"a": [1, 2]}'
    assert row[2] == ["Decimal", "12345678901234567890.000001"]
    assert row[3] == ["RangeInt32", [[1, "inclusive"], [10, "exclusive"]]]
    # PostgreSQL normalises discrete ranges to [lower, upper): (, 5e9] becomes (, 5e9 + 1)
    assert row[4] == ["RangeInt64", [None, [5_000_000_001, "exclusive"]]]
    assert row[5] == ["RangeDecimal", [["1.5", "exclusive"], None]]
    assert row[6:10] == [["ArrayInt32", [1, None, 3]], ["ArrayInt64", [9_000_000_000]],
                         ["ArrayDecimal", ["0.1", None]], ["ArrayStr", ["a", None, "ç"]]]
    assert row[10] == ["Interval", {"micros": 3_000_001, "days": 2, "months": 14}]
    assert row[11][0] == "Unsupported" and row[11][1]["hex"]  # point: the server's raw bytes
    assert row[12] == ["Date", [2020, 1, 1]]
    err = out[4]
    assert err["err"] == "Error_QueryFailed"
    db = err["msg"]  # QueryError_DbError(DbError(...)) -> ["DbError", {...}]
    assert db[0] == "DbError" and db[1]["code"] == "42P01" and db[1]["severity"] == "ERROR"
    assert "nope" in db[1]["message"] and "nope" in db[1]["as_text"]
    assert out[5]["err"] == "Error_BadParameter" and out[6]["err"] == "Error_BadParameter"


def test_bad_sql_is_query_failed(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    out = run(server, "pg2", postgres_server.url, q("SELEC 1"), x("SELECT $1::int + $2::int", ["Int32", 1]),
              q("SELECT 1 AS one"))
    assert out[0]["err"] == "Error_QueryFailed" and "syntax error" in out[0]["msg"]
    assert out[1]["err"] == "Error_QueryFailed"  # one parameter for two placeholders
    assert out[2] == {"ok": {"columns": [["one", "int32"]], "rows": [[["Int32", 1]]]}}  # the connection still works


def test_hosts_not_allowed(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    port = postgres_server.port
    for address in (f"host=127.0.0.1 port={port + 1} user=postgres",  # another port
                    f"postgres://postgres@localhost:{port}/postgres",  # a name the rule does not list
                    f"host=127.0.0.2 port={port} user=postgres"):
        out = run(server, "pg2", address, q("SELECT 1"))
        assert out == [{"err": "Error_ConnectionFailed", "msg": out[0]["msg"]}] and "not permitted" in out[0]["msg"]
    # libpq keywords that would make the host read its own files are refused
    out = run(server, "pg3", postgres_server.address + " sslkey=/etc/shadow", q("SELECT 1"))
    assert out[0]["err"] == "Error_ConnectionFailed" and "sslkey" in out[0]["msg"]


def test_server_down_nothing_acknowledged_is_lost(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    pg = postgres_server
    assert run(server, "pg2", pg.address, x("CREATE TABLE IF NOT EXISTS down (v text)"),
               x("INSERT INTO down VALUES ($1)", ["Str", "before"])) == [{"ok": 0}, {"ok": 1}]
    pg.stop()
    try:
        # the pooled connection was just used: the first statement finds it dead (not acknowledged) ...
        out = run(server, "pg2", pg.address, x("INSERT INTO down VALUES ($1)", ["Str", "during"]))
        assert out[0]["err"] in ("Error_QueryFailed", "Error_ConnectionFailed"), out
        # ... and it is not reused: a new connection is refused
        out = run(server, "pg2", pg.address, x("INSERT INTO down VALUES ($1)", ["Str", "during"]))
        assert out[0]["err"] == "Error_ConnectionFailed", out
    finally:
        pg.start()
    # the pooled connection died with the server: the next request gets a fresh one
    out = run(server, "pg2", pg.address, q("SELECT v FROM down ORDER BY v"))
    assert out == [{"ok": {"columns": [["v", "str"]], "rows": [[["Str", "before"]]]}}]


def test_long_query_ended_by_deadline(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    started = time.monotonic()
    run(server, "pg2", postgres_server.address, q("SELECT pg_sleep(60)"), status=504)
    assert time.monotonic() - started < 50  # ended by the 3 s deadline, not by the sleep (bound only)
    # the statement was cancelled on the server, and the next request is served normally
    deadline = time.monotonic() + 10
    while postgres_server.sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                             "AND query LIKE 'SELECT pg_sleep%'") != [(0,)]:
        assert time.monotonic() < deadline, "pg_sleep still running on the server"
        time.sleep(0.1)
    out = run(server, "pg2", postgres_server.address, q("SELECT 2 AS two"))
    assert out == [{"ok": {"columns": [["two", "int32"]], "rows": [[["Int32", 2]]]}}]


def test_result_too_big_for_a_guest_is_refused(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    # 70 rows of 1 MB: more than the 64 MiB a query may hand a guest; refused before any value is loaded
    out = run(server, "pg2", postgres_server.address, q("SELECT repeat('x', 1000000) FROM generate_series(1, 70)"),
              q("SELECT length(repeat('x', 1000000)) AS n FROM generate_series(1, 3)"))
    assert out[0]["err"] == "Error_QueryFailed" and "larger than 64 MiB" in out[0]["msg"]
    assert out[1]["ok"]["rows"] == [[["Int32", 1000000]]] * 3  # the connection goes on


def test_silent_server_cannot_hold_the_guest(server: Server, silent_port: int) -> None:  # noqa: F811
    """A MySQL address that accepts and never answers: the request ends by its 3 s deadline (504, or the
    guest's connection-failed when the connect timeout came first), and nothing stays stuck."""
    started = time.monotonic()
    r = httpx.post(server.url + "/db", json={"iface": "mysql", "address": f"mysql://u:p@127.0.0.1:{silent_port}/db",
                                             "ops": []}, timeout=60)
    assert time.monotonic() - started < 30  # bound only: the connect timeout is the remaining deadline
    assert r.status_code == 504 or r.json()[0]["err"] == "Error_ConnectionFailed", r.text
    out = run(server, "pg2", f"host=127.0.0.1 port={silent_port} user=x", q("SELECT 1"))  # not permitted: pg
    assert out[0]["err"] == "Error_ConnectionFailed"


def test_v4_query_errors_reach_the_guest_as_their_wit_cases(server: Server, postgres_server: Postgres) -> None:  # noqa: F811
    # v4's `query-failed` carries a `query-error` variant: `db-error(record)` for a server error, with
    # `detail` (option) and the other fields as `extras` (list of tuples), or `text(string)` for an error
    # raised on the host's side (here psycopg refusing a NUL in a text value before sending it).
    out = run(server, "pg4", postgres_server.address,
              x("DROP TABLE IF EXISTS uq"), x("CREATE TABLE uq (id int4 PRIMARY KEY, t text)"),
              x("INSERT INTO uq VALUES (1, 'a')"), x("INSERT INTO uq VALUES (1, 'b')"),
              x("INSERT INTO uq VALUES (2, $1)", ["Str", "nul\u0000byte"]),
              x("SELECT $1::int + $2::int", ["Int32", 1]),
              q("SELECT id, t FROM uq"))
    assert out[:3] == [{"ok": 0}, {"ok": 0}, {"ok": 1}]
    duplicate = 'duplicate key value violates unique constraint "uq_pkey"'
    assert out[3] == {"err": "Error_QueryFailed", "msg": ["DbError", {
        "as_text": f"{duplicate}\nDETAIL:  Key (id)=(1) already exists.", "severity": "ERROR", "code": "23505",
        "message": duplicate, "detail": "Key (id)=(1) already exists.",
        "extras": [["constraint_name", "uq_pkey"], ["schema_name", "public"], ["table_name", "uq"]]}]}
    assert out[4] == {"err": "Error_QueryFailed", "msg": ["Text", "PostgreSQL text fields cannot contain NUL (0x00) bytes"]}
    assert out[5]["msg"][0] == "DbError" and out[5]["msg"][1]["code"] == "08P01"  # one parameter for two
    assert out[5]["msg"][1]["detail"] is None and out[5]["msg"][1]["extras"] == []
    # nothing half-done: the connection goes on, and only the first row is there
    assert out[6] == {"ok": {"columns": [["id", ["Int32"]], ["t", ["Str"]]], "rows": [[["Int32", 1], ["Str", "a"]]]}}
