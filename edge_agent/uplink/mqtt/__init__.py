"""The agent's MQTT v5 client: paho-mqtt 2.x driven from the asyncio event loop."""

from __future__ import annotations

from edge_agent.uplink.mqtt.client import Message, MqttClient
from edge_agent.uplink.mqtt.errors import (
    MqttConnectionLost,
    MqttError,
    MqttNotConnected,
    MqttRefused,
    MqttTimeout,
)
from edge_agent.uplink.mqtt.options import MqttOptions, Will

__all__ = [
    "Message",
    "MqttClient",
    "MqttConnectionLost",
    "MqttError",
    "MqttNotConnected",
    "MqttOptions",
    "MqttRefused",
    "MqttTimeout",
    "Will",
]
