"""Outbound MQTT for guests: Spin's `fermyon:spin/mqtt@2.0.0` over paho-mqtt, connections pooled per app."""

from ._client import MqttConnection, MqttError
from ._host import INTERFACES, MqttApp, MqttFactor, MqttInstance
from ._pool import ConnectionPool, parse_address

__all__ = [
    "INTERFACES",
    "ConnectionPool",
    "MqttApp",
    "MqttConnection",
    "MqttError",
    "MqttFactor",
    "MqttInstance",
    "parse_address",
]
