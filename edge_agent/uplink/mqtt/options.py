"""Where and how the agent's MQTT client connects, and the Last Will it leaves with the broker."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Will:
    """The Last Will the broker publishes if the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


WillFactory = Callable[[str], Will | None]
"""The Last Will of a connection, given the connection's id (None: no will)."""


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Where and how to connect."""

    host: str
    port: int
    client_id: str
    ssl_context: ssl.SSLContext
    keepalive: int = 60
    session_expiry: int = 86400  # seconds the broker keeps the session while we are away
    connect_timeout: float = 5.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    request_timeout: float = 10.0  # default wait for PUBACK / SUBACK
