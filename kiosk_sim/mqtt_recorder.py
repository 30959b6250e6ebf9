"""An admin subscriber that records every MQTT message it sees, for scenarios and privacy scans."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.tls import client_context
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.fleet_admin import FleetSetup


class MessageRecorder:
    """An admin subscriber on `kiosk/#` that keeps every message (across broker restarts)."""

    def __init__(
        self,
        broker: MosquittoBroker,
        setup: FleetSetup,
        filters: tuple[str, ...] = ("kiosk/#",),
        client_id: str | None = None,
    ) -> None:
        self.filters = filters
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        ctx = client_context(setup.ca_file, setup.admin_cert.cert, setup.admin_cert.key)
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"recorder-{secrets.token_hex(4)}",
            protocol=paho.MQTTv5,
        )
        self._client.tls_set_context(ctx)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._connected
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_message = self._message
        self._host, self._port = broker.host, broker.admin_port

    def _connected(self, c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        c.subscribe([(f, 1) for f in self.filters])

    def _message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((time.time(), msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def start(self, timeout: float = 10.0) -> MessageRecorder:
        """Connect (persistent session) and wait for the subscription."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self._client.connect(self._host, self._port, 30, clean_start=False, properties=props)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError("the recorder could not subscribe")
        return self

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def count(self) -> int:
        """Messages so far."""
        with self._cond:
            return len(self.messages)

    def wait_for(
        self, match: Callable[[str, bytes], bool], timeout: float, start: int = 0
    ) -> tuple[str, bytes] | None:
        """The first message from index `start` on that matches; None on timeout (blocking)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.messages):
                    _, name, payload, _ = self.messages[i]
                    i += 1
                    if match(name, payload):
                        return name, payload
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    async def await_for(
        self, match: Callable[[str, bytes], bool], timeout: float, start: int = 0
    ) -> tuple[str, bytes] | None:
        """wait_for from the event loop (in a thread)."""
        return await asyncio.to_thread(self.wait_for, match, timeout, start)

    def payloads(self) -> bytes:
        """Every topic and payload, one per line (what the privacy scan reads)."""
        with self._cond:
            return b"\n".join(t.encode() + b" " + p for _, t, p, _ in self.messages)

    def dump(self, path: Path) -> Path:
        """Write payloads() to `path`."""
        path.write_bytes(self.payloads())
        return path
