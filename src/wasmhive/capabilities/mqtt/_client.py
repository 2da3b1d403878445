"""One MQTT connection to a broker (paho-mqtt), shared by every instance of an app that opens the same
address with the same credentials.

paho's own `loop_start` thread reconnects forever and re-sends queued messages after a reconnect, so a
publish the guest was told had failed could still be delivered minutes later. We run the network loop
ourselves instead: when the connection drops, the loop ends, the connection is dead for good, and the
next `open` makes a new one. Every wait (CONNACK, PUBACK/PUBCOMP) is bounded by the caller's timeout.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

__all__ = ["MqttConnection", "MqttError"]

log = logging.getLogger("wasmhive.capabilities.mqtt")

QOS = {"at-most-once": 0, "at-least-once": 1, "exactly-once": 2}


class MqttError(Exception):
    """A failure to report to the guest as the WIT's `error` case `case` (with this message)."""

    def __init__(self, case: str, message: str = "") -> None:
        super().__init__(message or case)
        self.case = case


def _paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise MqttError("other", "the MQTT capability needs paho-mqtt (pip install 'wasmhive[mqtt]')") from None
    return mqtt


class MqttConnection:
    """A connected MQTT client with its own network thread. Thread-safe: several guests may publish at once."""

    def __init__(self, ip: str, port: int, *, client_id: str, username: str, password: str, keepalive: int,
                 timeout: float, label: str) -> None:
        """Connect to `ip:port` and wait for the broker's CONNACK at most `timeout` seconds.

        Raises `MqttError("connection-failed", ...)` when the broker is unreachable or refuses us."""
        mqtt = _paho()
        self.label = label
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._client = client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                            clean_session=True)
        if username or password:
            client.username_pw_set(username, password)
        client.connect_timeout = max(0.05, timeout)
        client.on_connect = self._on_connect
        deadline = time.monotonic() + timeout
        try:
            client.connect(ip, port, keepalive=keepalive)
        except (OSError, ValueError) as e:
            raise MqttError("connection-failed", f"cannot connect to {label}: {e}") from None
        self._thread = threading.Thread(target=self._loop, name=f"mqtt {label}", daemon=True)
        self._thread.start()
        self._connected.wait(max(0.0, deadline - time.monotonic()))
        if not self._connected.is_set() or self._refused is not None:
            self.close()
            why = self._refused or f"no answer (CONNACK) within {timeout:.1f}s"
            raise MqttError("connection-failed", f"{label}: {why}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refused = f"the broker refused the connection: {reason}"
        self._connected.set()

    def _loop(self) -> None:
        # One paho `loop()` step at a time; any failure (the broker went away) ends the connection.
        mqtt = _paho()
        try:
            while not self._stop.is_set():
                if self._client.loop(timeout=0.2) != mqtt.MQTT_ERR_SUCCESS:
                    break
        except Exception as e:  # a paho bug must not kill the process; the connection is just dead
            log.warning("MQTT %s: network loop failed: %s", self.label, e)
        finally:
            self._connected.set()  # an `open` still waiting learns at once that it failed
            if not self._stop.is_set():
                log.info("MQTT connection to %s closed by the broker or the network", self.label)
            self._stop.set()

    @property
    def alive(self) -> bool:
        """Connected, and its network loop still running."""
        return not self._stop.is_set() and self._client.is_connected()

    def publish(self, topic: str, payload: bytes, qos: int, timeout: float) -> None:
        """Publish and wait until the broker has it: written (QoS 0), PUBACK (1) or PUBCOMP (2).

        On a timeout or a dropped connection the connection is closed, so nothing left in paho's queue is
        sent later behind the guest's back; the guest gets an error."""
        mqtt = _paho()
        if not self.alive:
            raise MqttError("connection-failed", f"the connection to {self.label} is closed")
        try:
            info = self._client.publish(topic, payload, qos=qos)
        except ValueError as e:  # a wildcard or empty topic, a payload over MQTT's 256 MiB limit
            raise MqttError("other", f"cannot publish to {topic!r}: {e}") from None
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.close()
            raise MqttError("connection-failed", f"{self.label}: {mqtt.error_string(info.rc)}")
        deadline = time.monotonic() + timeout
        while not info.is_published():
            left = deadline - time.monotonic()
            if left <= 0 or not self.alive:
                self.close()
                what = "PUBCOMP" if qos == 2 else "PUBACK" if qos == 1 else "the write"
                why = f"no {what} within {timeout:.1f}s" if self.alive or left <= 0 else "the connection was lost"
                raise MqttError("other", f"publish to {topic!r} on {self.label} not confirmed: {why}")
            with contextlib.suppress(RuntimeError):  # raised once the message can no longer be sent
                info.wait_for_publish(min(0.1, left))

    def close(self) -> None:
        """Disconnect and stop the network thread (idempotent)."""
        first = not self._stop.is_set()
        self._stop.set()
        with contextlib.suppress(Exception):
            if first:
                self._client.disconnect()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        with contextlib.suppress(Exception):
            sock = self._client.socket()
            if sock is not None:
                sock.close()
