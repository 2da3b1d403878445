"""Outbound MQTT (`fermyon:spin/mqtt@2.0.0`): a spin-sdk 3.4.1 guest under `wasmhive up spin.toml` publishes to
a real Mosquitto broker; a paho subscriber in the test receives what it published, at each QoS."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app_fixtures import Server, build_spin_sdk_app
from mqtt_fixtures import PASSWORD, USER, Broker, SilentBroker, Subscriber, mosquitto

__all__ = ["mosquitto"]  # the fixture, imported for pytest

HERE = Path(__file__).parent / "app" / "mqtt"


@pytest.fixture(scope="module")
def server(mosquitto: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    app = tmp_path_factory.mktemp("mqtt-app")
    shutil.copy(HERE / "spin.toml", app / "spin.toml")
    build_spin_sdk_app(HERE / "app.py", app / "app.wasm")
    srv = Server(app / "spin.toml", "--timeout", "20s",
                 env={"SPIN_VARIABLE_ANON_PORT": str(mosquitto.anon_port),
                      "SPIN_VARIABLE_AUTH_PORT": str(mosquitto.auth_port)}).wait()
    try:
        yield srv
    finally:
        srv.kill()


def publish(server: Server, address: str, topic: str, payload: bytes = b"", **params: str | int) -> httpx.Response:
    return httpx.post(f"{server.url}/mqtt/publish", params={"address": address, "topic": topic, **params},
                      content=payload, timeout=60)


def topic() -> str:
    return f"wasmhive/test/{uuid.uuid4().hex[:8]}"


def test_publish_at_each_qos(server: Server, mosquitto: Broker) -> None:
    address = f"mqtt://127.0.0.1:{mosquitto.anon_port}"
    t = topic()
    with Subscriber(mosquitto.anon_port, t) as sub:
        for qos in (0, 1, 2):
            r = publish(server, address, t, f"payload at qos {qos}".encode(), qos=qos, count=2)
            assert (r.status_code, r.text) == (200, "published 2"), server.output()
        got = sub.wait_for(6)
    assert sorted(got) == sorted([(f"payload at qos {q}".encode(), q) for q in (0, 1, 2) for _ in range(2)])


def test_connections_are_reused_per_app(server: Server, mosquitto: Broker) -> None:
    client_id = f"reuse-{uuid.uuid4().hex[:8]}"
    address = f"mqtt://127.0.0.1:{mosquitto.anon_port}?client_id={client_id}"
    t = topic()
    with Subscriber(mosquitto.anon_port, t) as sub:
        for i in range(3):
            assert publish(server, address, t, b"m%d" % i, qos=1).status_code == 200
        assert [p for p, _ in sub.wait_for(3)] == [b"m0", b"m1", b"m2"]
    # the broker saw one connection with that client id for three requests
    assert mosquitto.log.read_text().count(f" as {client_id} ") == 1, mosquitto.log.read_text()[-2000:]


def test_password_file(server: Server, mosquitto: Broker) -> None:
    address = f"mqtt://localhost:{mosquitto.auth_port}"
    t = topic()
    with Subscriber(mosquitto.anon_port, t) as sub:  # one broker: a message reaches every listener's clients
        r = publish(server, address, t, b"with a password", qos=1, user=USER, password=PASSWORD)
        assert (r.status_code, r.text) == (200, "published 1"), server.output()
        r = publish(server, address, t, b"wrong password", qos=1, user=USER, password="nope")
        assert r.status_code == 502
        assert r.text.startswith("Error_ConnectionFailed: ") and "refused" in r.text, r.text
        r = publish(server, address, t, b"no password", qos=1)
        assert r.text.startswith("Error_ConnectionFailed: "), r.text
        assert sub.wait_for(2, timeout=1.0) == [(b"with a password", 1)]


def test_denied_and_bad_input(server: Server, mosquitto: Broker) -> None:
    anon = mosquitto.anon_port
    # allowed_outbound_hosts grants 127.0.0.1 on the anonymous port and localhost on the other one only
    for address in (f"mqtt://127.0.0.1:{mosquitto.auth_port}", f"mqtt://localhost:{anon}", "mqtt://127.0.0.2:1883"):
        r = publish(server, address, "t")
        assert r.status_code == 502 and r.text.startswith("Error_ConnectionFailed: ") and "not allowed" in r.text, r.text
    for address in ("http://127.0.0.1:1883", "127.0.0.1:1883", "mqtt://", f"mqtt://127.0.0.1:{anon}/path",
                    f"mqtt://127.0.0.1:{anon}?color=red", "mqtt://127.0.0.1:99999"):
        assert publish(server, address, "t").text == "Error_InvalidAddress: ", address
    ok = f"mqtt://127.0.0.1:{anon}"
    assert publish(server, "mqtts://127.0.0.1:8883", "t").text.startswith("Error_ConnectionFailed: mqtts")
    r = publish(server, ok, "a/#", b"x")  # a wildcard is not a topic one can publish to
    assert r.text.startswith("Error_Other: ") and "a/#" in r.text, r.text
    assert publish(server, ok, "t", keepalive=70000).text.startswith("Error_Other: keep-alive")
    r = publish(server, ok, "t", opens=65)
    assert r.text == "Error_TooManyConnections: ", r.text
    assert publish(server, ok, "t", opens=64).text == "published 1"
    # the server is still healthy after all of that
    assert publish(server, ok, topic(), b"fine", qos=2).status_code == 200


def test_broker_down(server: Server, mosquitto: Broker) -> None:
    address = f"mqtt://127.0.0.1:{mosquitto.anon_port}"
    t = topic()
    assert publish(server, address, t, b"before", qos=1).status_code == 200  # a pooled connection exists
    mosquitto.stop()
    try:
        for qos in (0, 1, 2):
            r = publish(server, address, t, b"while down", qos=qos)
            assert r.status_code == 502 and r.text.startswith("Error_ConnectionFailed: "), r.text
    finally:
        mosquitto.start()
    with Subscriber(mosquitto.anon_port, t) as sub:
        r = publish(server, address, t, b"after", qos=1)  # the dead connection is replaced by a new one
        assert r.status_code == 200, r.text
        assert sub.wait_for(2, timeout=2.0) == [(b"after", 1)]  # nothing from while it was down


@pytest.mark.parametrize("connack", [False, True], ids=["no-connack", "no-puback"])
def test_a_silent_broker_ends_by_the_request_deadline(tmp_path: Path, connack: bool) -> None:
    silent = SilentBroker(connack)
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(HERE / "spin.toml", app / "spin.toml")
    build_spin_sdk_app(HERE / "app.py", app / "app.wasm")
    srv = Server(app / "spin.toml", "--timeout", "2s",
                 env={"SPIN_VARIABLE_ANON_PORT": str(silent.port), "SPIN_VARIABLE_AUTH_PORT": "1"}).wait()
    try:
        r = publish(srv, f"mqtt://127.0.0.1:{silent.port}", "t", b"x", qos=1)
        log = srv.output()
    finally:
        srv.kill()
        silent.close()
    # the guest gets the WIT error when the wait ends, or is ended by its deadline (504) if it has no time left
    if r.status_code == 502:
        expected = "Error_Other: " if connack else "Error_ConnectionFailed: "
        assert r.text.startswith(expected) and ("PUBACK" if connack else "CONNACK") in r.text, r.text
    else:
        assert r.status_code == 504, (r.status_code, r.text, log)
