"""The rdbms capability's host-side parts on their own: MySQL placeholder binding, address checks, the
deadline watchdog. (End to end through a guest and real servers: test_rdbms_postgres.py, _mysql.py.)"""

from __future__ import annotations

import threading
import time

import pytest

from wasmhive.capabilities.outbound_http import OutboundPolicy
from wasmhive.capabilities.rdbms import RdbmsError, Watchdog
from wasmhive.capabilities.rdbms._address import checked_address
from wasmhive.capabilities.rdbms._mysql import bind
from wasmhive.capabilities.rdbms._mysql import parse_address as mysql_address


def test_bind_replaces_only_real_placeholders() -> None:
    sql = "SELECT '?', \"?\", `?`, 'it''s ?', 'a\\'?' -- ?\n, ? # ?\n, /* ? */ ?"
    assert bind(sql, ["1", "'x'"]) == "SELECT '?', \"?\", `?`, 'it''s ?', 'a\\'?' -- ?\n, 1 # ?\n, /* ? */ 'x'"
    # `--` starts a comment only when followed by a space: `1--?` is an expression with a placeholder
    assert bind("SELECT 1--?", ["2"]) == "SELECT 1--2"


@pytest.mark.parametrize("sql, n", [("SELECT ?", 0), ("SELECT ?", 2), ("SELECT '?'", 1), ("SELECT '", 1)])
def test_bind_counts_must_match(sql: str, n: int) -> None:
    with pytest.raises(RdbmsError) as e:
        bind(sql, ["1"] * n)
    assert e.value.case == "bad-parameter"


def test_addresses_are_checked_by_name_and_resolved_address() -> None:
    policy = OutboundPolicy.parse(["postgres://127.0.0.1:5432", "mysql://localhost:3306", "mysql://db.example:3306"])
    assert checked_address(policy, "postgres", "127.0.0.1", 5432) == "127.0.0.1"
    assert checked_address(policy, "mysql", "localhost", 3306) in ("127.0.0.1", "::1")
    for scheme, host, port in (("postgres", "127.0.0.1", 5433), ("mysql", "127.0.0.1", 3306),
                               ("postgres", "localhost", 5432), ("postgres", "/var/run/postgresql", 5432)):
        with pytest.raises(RdbmsError, match="not permitted") as e:
            checked_address(policy, scheme, host, port)
        assert e.value.case == "connection-failed"


def test_postgres_addresses() -> None:
    pytest.importorskip("psycopg")
    from wasmhive.capabilities.rdbms._postgres import parse_address

    assert parse_address("postgres://u:p@db:6543/app")[:2] == ("db", 6543)
    assert parse_address("host=db user=u dbname=app")[:2] == ("db", 5432)
    for bad, why in (("host=db sslkey=/etc/shadow", "sslkey"), ("host=db passfile=/root/.pgpass", "passfile"),
                     ("host=db hostaddr=10.0.0.1", "hostaddr"), ("host=db require_auth=gss", "require_auth"),
                     ("host=db sslcertmode=allow", "sslcertmode"), ("host=a,b", "several hosts"),
                     ("user=u dbname=x", "no host"), ("postgres://db:notaport/x", "invalid")):
        with pytest.raises(RdbmsError, match=why) as e:
            parse_address(bad)
        assert e.value.case == "connection-failed"


def test_mysql_addresses() -> None:
    assert mysql_address("mysql://us%40er:p%3Ass@db/app") == (
        "db", 3306, {"port": "3306", "user": "us@er", "password": "p:ss", "database": "app"})
    for bad in ("postgres://db/app", "mysql:///app", "mysql://db:99999/app"):
        with pytest.raises(RdbmsError) as e:
            mysql_address(bad)
        assert e.value.case == "connection-failed"


def test_watchdog_cancels_only_calls_past_their_deadline() -> None:
    dog = Watchdog()
    try:
        cancelled = threading.Event()
        with dog.guard(time.monotonic() + 0.2, cancelled.set) as g:
            assert cancelled.wait(10)  # a call still running at its deadline is cancelled
        assert g.fired
        late = threading.Event()
        with dog.guard(time.monotonic() + 0.2, late.set) as g2:
            pass  # finished in time
        with dog.guard(time.monotonic() + 0.3, cancelled.clear):
            time.sleep(0.6)  # outlives both deadlines: the finished one is never cancelled
        assert not late.is_set() and not g2.fired
        with dog.guard(None, late.set):  # no deadline: never cancelled
            pass
    finally:
        dog.close()


def test_postgres_never_lends_the_host_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq fills unset keywords from the host's environment and files (PGPASSWORD, PGSERVICE, ~/.pgpass,
    ~/.postgresql/postgresql.key, Kerberos): the connection string leaves none of them unset."""
    pytest.importorskip("psycopg")
    from psycopg.conninfo import conninfo_to_dict

    from wasmhive.capabilities.rdbms._postgres import conninfo, parse_address

    _, _, params = parse_address("postgres://app@db:5432/app")
    got = conninfo_to_dict(conninfo(params, "10.1.2.3"))
    assert got["password"] == "" and got["hostaddr"] == "10.1.2.3" and got["host"] == "db"
    assert got["passfile"].startswith("/nonexistent/") and got["sslcertmode"] == "disable"
    assert got["gssencmode"] == "disable" and got["require_auth"] == "!gss,!sspi"
    assert "TimeZone=UTC" in got["options"]
    _, _, params = parse_address("postgres://app:secret@db/app?options=-c%20search_path%3Dx")
    got = conninfo_to_dict(conninfo(params, "10.1.2.3"))
    assert got["password"] == "secret" and got["options"] == "-c search_path=x -c TimeZone=UTC"
