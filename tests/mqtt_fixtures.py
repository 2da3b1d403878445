"""A real Mosquitto broker for the MQTT tests: its own config file, data dir and free loopback ports.

One broker, two listeners (`per_listener_settings`): `anon_port` allows anonymous clients, `auth_port`
requires a user from a password file made with `mosquitto_passwd`. `Subscriber` is a paho client that
collects what arrives on a topic.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app_fixtures import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
USER, PASSWORD = "hive", "s3cret"


@dataclass
class Broker:
    """A running broker: its ports, and `stop()`/`start()` to take it down and bring it back (same ports)."""

    anon_port: int
    auth_port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + 10
        for port in (self.anon_port, self.auth_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        self.stop()
                        raise RuntimeError(f"mosquitto did not start:\n{self.log.read_text(errors='replace')}") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Mosquitto broker on two free loopback ports (anonymous, and password-file) for one test module."""
    if not (Path(MOSQUITTO).is_file() and shutil.which("mosquitto_passwd")):
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto; .ci/run does this)")
    work = tmp_path_factory.mktemp("mosquitto")
    passwd = work / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), USER, PASSWORD], check=True, capture_output=True)
    passwd.chmod(0o600)
    anon, auth = free_port(), free_port()
    config = work / "mosquitto.conf"
    config.write_text(
        "per_listener_settings true\n"
        "persistence false\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        # running as root, mosquitto would switch to the `mosquitto` user and lose the password file
        "user root\n"
        f"listener {anon} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"listener {auth} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {passwd}\n")
    broker = Broker(anon, auth, config, work / "mosquitto.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Subscriber:
    """A paho subscriber on `topic` (QoS 2): `messages` collects (payload, qos) as they arrive."""

    port: int
    topic: str
    messages: list[tuple[bytes, int]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __enter__(self) -> Subscriber:
        import paho.mqtt.client as mqtt

        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

        def on_connect(client: mqtt.Client, userdata: object, flags: object, rc: object, props: object) -> None:
            client.subscribe(self.topic, qos=2)

        def on_subscribe(*_: object) -> None:
            ready.set()

        def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            with self.arrived:
                self.messages.append((bytes(msg.payload), msg.qos))
                self.arrived.notify_all()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("the test subscriber did not subscribe")
        return self

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[bytes, int]]:
        """The messages once `count` have arrived (or whatever arrived within `timeout`)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class SilentBroker:
    """A TCP listener that speaks just enough MQTT to hang a client: it answers CONNECT with a CONNACK
    (when `connack`) and never acknowledges anything else. For the deadline tests only: what the host
    does when a broker stops answering is the thing under test, not the broker."""

    def __init__(self, connack: bool) -> None:
        self.connack = connack
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            first = conn.recv(1)
            if first and first[0] >> 4 == 1 and self.connack:  # CONNECT
                conn.sendall(b"\x20\x02\x00\x00")  # CONNACK: session not present, accepted
            while conn.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()
