"""A spin-js-sdk app (`tests/app/spinjs-outbound`, built with `j2w`) under `wasmhive up spin.toml` using
Spin's outbound Redis, PostgreSQL, MySQL, MQTT and LLM embeddings against real servers (redis-server,
PostgreSQL, MariaDB, Mosquitto, the local WordLlama model); the data is checked on the servers, and what
the manifest does not grant answers the interface's own error."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator

import httpx
import pytest

from app_fixtures import Server
from mqtt_fixtures import Broker, Subscriber, mosquitto
from rdbms_fixtures import MariaDB, Postgres, mariadb_server, postgres_server
from redis_fixtures import RedisServer, redis_server
from spinjs_fixtures import HERE, build_spinjs_app

__all__ = ["mariadb_server", "mosquitto", "postgres_server", "redis_server"]  # fixtures, used by name

APP = HERE / "app" / "spinjs-outbound"
MODEL = "wordllama-l2-supercat"
# One connection per request (see tests/test_llm.py: a reused keep-alive connection was seen reset).
CLOSE = {"connection": "close"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, postgres_server: Postgres,
           mariadb_server: MariaDB, mosquitto: Broker) -> Iterator[Server]:
    dest = tmp_path_factory.mktemp("spinjs-outbound")
    shutil.copy(APP / "spin.toml", dest / "spin.toml")
    build_spinjs_app(dest / "app.wasm", APP)
    env = {"SPIN_VARIABLE_REDIS_PORT": str(redis_server.port), "SPIN_VARIABLE_PG_PORT": str(postgres_server.port),
           "SPIN_VARIABLE_MYSQL_PORT": str(mariadb_server.port), "SPIN_VARIABLE_MQTT_PORT": str(mosquitto.anon_port)}
    s = Server(dest / "spin.toml", env=env).wait(300)
    try:
        yield s
    finally:
        s.kill()


def call(server: Server, path: str, status: int = 200, body: object = None, **params: str) -> dict[str, object]:
    r = httpx.request("POST" if body is not None else "GET", server.url + path, params=params, headers=CLOSE,
                      content=json.dumps(body) if body is not None else None, timeout=120)
    assert r.status_code == status, (r.text, server.output()[-3000:])
    result: dict[str, object] = r.json()
    return result


def test_spinjs_redis(server: Server, redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=10)
    client.delete("js:k", "js:n", "js:s")
    sub = client.pubsub()
    sub.subscribe("js:chan")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    assert call(server, "/redis", addr=redis_server.url, prefix="js:") == {
        "get": "from js", "missing": None, "incr": ["1", "2"], "added": 3, "removed": 1, "members": ["a", "c"],
        "incrby": [["int64", "42"]], "deleted": 1}
    # On the server: what the guest left there, and the message it published.
    assert client.get("js:n") == b"42"
    assert client.smembers("js:s") == {b"a", b"c"}
    assert client.exists("js:k") == 0
    message = sub.get_message(timeout=5)
    assert message is not None and message["data"] == b"hello from js"
    sub.close()
    client.close()
    # Not granted (the rule names 127.0.0.1): Spin's answer for a denied host.
    assert call(server, "/redis", 502, addr=f"redis://localhost:{redis_server.port}") == {"error": "invalid-address"}


def test_spinjs_postgres(server: Server, postgres_server: Postgres) -> None:
    assert call(server, "/postgres", addr=postgres_server.url) == {
        "affected": "1", "columns": ["n", "name", "price", "note"],
        "rows": [[["int32", 7], ["str", "zß€ from js"], ["floating64", 2.5], ["db-null", None]]]}
    assert postgres_server.sql("SELECT n, name, price, note FROM js_items") == [(7, "zß€ from js", 2.5, None)]
    # A port the rule does not name: refused before anything is sent.
    denied = call(server, "/postgres", 502, addr=f"postgres://postgres@127.0.0.1:{postgres_server.port + 1}/postgres")
    assert str(denied["error"]).startswith("connection-failed: ") and "not permitted" in str(denied["error"])


def test_spinjs_mysql(server: Server, mariadb_server: MariaDB) -> None:
    assert call(server, "/mysql", addr=mariadb_server.url) == {
        "affected": None, "columns": ["n", "name", "price", "note"],
        "rows": [[["int32", 7], ["str", "zß€ from js"], ["floating64", 2.5], ["db-null", None]]]}
    assert mariadb_server.sql("SELECT n, name, price, note FROM js_items") == [(7, "zß€ from js", 2.5, None)]
    denied = call(server, "/mysql", 502, addr=mariadb_server.url.replace("127.0.0.1", "localhost"))
    assert str(denied["error"]).startswith("connection-failed: ") and "not permitted" in str(denied["error"])


def test_spinjs_mqtt(server: Server, mosquitto: Broker) -> None:
    with Subscriber(mosquitto.anon_port, "js/orders") as sub:
        assert call(server, "/mqtt", addr=f"mqtt://127.0.0.1:{mosquitto.anon_port}", topic="js/orders") == {
            "published": 3}
        assert sub.wait_for(3) == [(b"qos0 from js", 0), (b"qos1 from js", 1), (b"qos2 from js", 2)]
    # The broker's other listener is not granted.
    denied = call(server, "/mqtt", 502, addr=f"mqtt://127.0.0.1:{mosquitto.auth_port}", topic="js/orders")
    assert str(denied["error"]).startswith("connection-failed: ")


def test_spinjs_llm_embeddings(server: Server) -> None:
    from test_llm import _reference

    texts = ["The cat sat on the mat.", "A kitten was resting on the rug."]
    got = call(server, "/llm", body=texts, model=MODEL)
    vectors = got["embeddings"]
    assert isinstance(vectors, list) and len(vectors) == 2
    for vector, expected in zip(vectors, _reference(texts), strict=True):
        assert len(vector) == 256
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-4)
        assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(vector, expected, strict=True))
    assert isinstance(got["tokens"], int) and got["tokens"] > 0
    # A model `ai_models` does not list: Spin's answer (invalid-input naming the model and the manifest key).
    denied = call(server, "/llm", 502, body=texts, model="all-minilm-l6-v2")
    assert str(denied["error"]).startswith("invalid-input: The component does not have access to use 'all-minilm-l6-v2'")
