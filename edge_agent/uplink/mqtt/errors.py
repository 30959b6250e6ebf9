"""Errors of the agent's MQTT client (paho's error codes translated at the boundary)."""

from __future__ import annotations

from edge_agent.errors import AgentError


class MqttError(AgentError):
    """Base of the MQTT client's errors."""


class MqttNotConnected(MqttError):
    """There is no connection to the broker right now (the caller retries after reconnect)."""


class MqttConnectionLost(MqttNotConnected):
    """The connection dropped before the broker acknowledged the request."""


class MqttTimeout(MqttError):
    """The broker did not acknowledge in time."""


class MqttRefused(MqttError):
    """The broker refused: `reason` is the MQTT v5 reason code (0x87: not authorised)."""

    def __init__(self, what: str, reason: int, name: str) -> None:
        super().__init__(f"{what} refused by the broker: 0x{reason:02X} {name}")
        self.reason = reason
        self.reason_name = name
