"""Outbound Redis (`fermyon:spin/redis@2.0.0`) for a spin-sdk 3.4.1 guest served by `wasmhive up spin.toml`,
against a real redis-server: every operation, the allow-list, a server going down and coming back, and a
key of the wrong type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app_fixtures import Server
from redis_fixtures import RedisServer, redis_app, redis_server
from wasmhive.capabilities.outbound_redis import MAX_CONNECTIONS

__all__ = ["redis_server"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Any:
    manifest = redis_app("redis", tmp_path_factory.mktemp("outbound-redis"))
    server = Server(manifest)
    try:
        yield server.wait()
    finally:
        server.kill()


def _get(server: Server, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.url + "/redis" + path, params=params, timeout=60)


def test_every_operation_reaches_redis(served: Server, redis_server: RedisServer) -> None:
    r: Any = redis_server.client()
    sub = r.pubsub()
    sub.subscribe("t1:chan")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    r.set("t1:n", b"0")
    resp = _get(served, "/ops", addr=redis_server.url, p="t1:")
    assert resp.status_code == 200, resp.text + served.output()
    assert resp.text.splitlines() == [
        "get b'v\\x00\\xff'",
        "get-missing None",
        "incr 1 2",
        "sadd 3",
        "srem 1",
        "smembers ['a', 'c']",
        "execute-set [RedisResult_Status(value='OK')]",
        "execute-incrby [RedisResult_Int64(value=42)]",
        "execute-mget [RedisResult_Binary(value=b'x'), RedisResult_Nil()]",
        "del 2",
    ]
    # What the guest did is in Redis.
    assert r.get("t1:k") is None and r.get("t1:e") is None
    assert r.get("t1:n") == b"42"
    assert r.smembers("t1:s") == {b"a", b"c"}
    msg = sub.get_message(timeout=5)
    assert msg is not None and (msg["channel"], msg["data"]) == (b"t1:chan", b"hello \x01")
    sub.close()


def test_wrong_type_is_type_error(served: Server, redis_server: RedisServer) -> None:
    r: Any = redis_server.client()
    r.delete("t2:set")
    resp = _get(served, "/wrongtype", addr=redis_server.url, key="t2:set")
    assert resp.status_code == 200, resp.text
    assert resp.text.splitlines() == ["sadd 1", "incr Error_TypeError", "get Error_TypeError"]
    assert r.smembers("t2:set") == {b"x"}  # untouched by the failed calls


@pytest.mark.parametrize("addr", [
    "redis://127.0.0.2:{port}",  # not in allowed_outbound_hosts (only 127.0.0.1 is)
    "redis://localhost:{port}",  # a name no rule allows, even though it resolves to an allowed address
    "rediss://127.0.0.1:{port}",  # another scheme
    "http://127.0.0.1:{port}",  # not a Redis address
    "redis://127.0.0.1:{port}/notadb",
])
def test_address_not_allowed_is_invalid_address(served: Server, redis_server: RedisServer, addr: str) -> None:
    resp = _get(served, "/open", addr=addr.format(port=redis_server.port))
    assert (resp.status_code, resp.text) == (503, "Error_InvalidAddress: ")


def test_redis_down_then_back(served: Server, redis_server: RedisServer) -> None:
    assert _get(served, "/open", addr=redis_server.url).text == "opened [RedisResult_Status(value='PONG')]"
    redis_server.stop()
    try:
        resp = _get(served, "/open", addr=redis_server.url)
        assert resp.status_code == 503
        assert resp.text.startswith("Error_Other: cannot connect to redis redis://127.0.0.1:"), resp.text
        assert "refused" in resp.text.lower()
        # Nothing is acknowledged that was not stored: a write while down fails.
        assert _get(served, "/ops", addr=redis_server.url, p="t3:").status_code == 503
    finally:
        redis_server.start()
    # The pooled connection died with the server: the next request reconnects.
    resp = _get(served, "/open", addr=redis_server.url)
    assert (resp.status_code, resp.text) == (200, "opened [RedisResult_Status(value='PONG')]")
    assert _get(served, "/ops", addr=redis_server.url, p="t3:").status_code == 200
    r: Any = redis_server.client()
    assert r.smembers("t3:s") == {b"a", b"c"}


def test_bad_database_is_other(served: Server, redis_server: RedisServer) -> None:
    # A server error reply (not a type mismatch) is `other` with Redis's own message.
    assert _get(served, "/open", addr=f"redis://127.0.0.1:{redis_server.port}/9").status_code == 200
    resp = _get(served, "/open", addr=f"redis://127.0.0.1:{redis_server.port}/99999")
    assert resp.status_code == 503
    assert resp.text.startswith("Error_Other: ") and "DB index is out of range" in resp.text, resp.text


def test_too_many_connections(served: Server, redis_server: RedisServer) -> None:
    assert _get(served, "/many", addr=redis_server.url, n=str(MAX_CONNECTIONS)).text == f"opened {MAX_CONNECTIONS}"
    resp = _get(served, "/many", addr=redis_server.url, n=str(MAX_CONNECTIONS + 1))
    assert (resp.status_code, resp.text) == (503, "Error_TooManyConnections: ")
    # The instance's connections went back to the pool: the next request has its full share.
    assert _get(served, "/many", addr=redis_server.url, n=str(MAX_CONNECTIONS)).status_code == 200


def test_blocking_command_ends_by_the_deadline(tmp_path: Path, redis_server: RedisServer) -> None:
    manifest = redis_app("redis", tmp_path)
    server = Server(manifest, "--timeout", "2")
    try:
        server.wait()
        # BLPOP 0 would wait forever: the call's socket timeout is the request's remaining time.
        resp = httpx.get(server.url + "/redis/blpop", params={"addr": redis_server.url, "key": "t6:never"},
                         timeout=30)
        assert resp.status_code >= 500, resp.text
        r: Any = redis_server.client()
        r.rpush("t6:later", b"x")
        resp = httpx.get(server.url + "/redis/blpop", params={"addr": redis_server.url, "key": "t6:later"},
                         timeout=30)
        assert (resp.status_code, resp.text) == (200, "blpop [RedisResult_Binary(value=b't6:later'), "
                                                      "RedisResult_Binary(value=b'x')]")
    finally:
        server.kill()


def test_names_are_checked_after_resolving() -> None:
    from wasmhive.capabilities.outbound_http import OutboundPolicy
    from wasmhive.capabilities.outbound_redis import AddressRefused, resolve_target

    # `localhost` named by a rule may reach loopback; the connection is pinned to the address checked.
    t = resolve_target("redis://user:secret@localhost:7000/3", OutboundPolicy.parse(["redis://localhost:*"]))
    assert (t.host, t.port, t.db, t.username, t.password) == ("localhost", 7000, 3, "user", "secret")
    assert t.ip in ("127.0.0.1", "::1")
    assert "secret" not in str(t)
    # A wildcard allows the name, but not the loopback address it resolves to (SSRF), as for HTTP.
    with pytest.raises(AddressRefused, match="no allowed_outbound_hosts rule names"):
        resolve_target("redis://localhost:7000", OutboundPolicy.parse(["redis://*:*"]))
    # ... unless the operator allows private addresses.
    assert resolve_target("redis://localhost:7000",
                          OutboundPolicy.parse(["redis://*:*"], allow_private=True)).port == 7000
    with pytest.raises(AddressRefused, match="not in allowed_outbound_hosts"):
        resolve_target("redis://localhost:7000", OutboundPolicy())  # deny by default
