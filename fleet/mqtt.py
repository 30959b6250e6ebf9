"""The fleet tool's MQTT v5 client: paho-mqtt's network thread, blocking calls with timeouts.

`snapshot()` reads retained messages completely: after subscribing it publishes a marker to the
admin's own `fleet/v1/<name>/sync/<id>` topic and waits for it to come back; the broker queued
every retained message of the earlier subscriptions before it.
"""

from __future__ import annotations

import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from fleet.errors import FleetError

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """A message as received."""

    topic: str
    payload: bytes
    retain: bool
    at: float = 0.0  # time.perf_counter() when it arrived


class FleetMqtt:
    """One connection to the broker's admin listener."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        admin_name: str,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.admin_name = admin_name
        self.timeout = timeout
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{admin_name}-{secrets.token_hex(4)}",
            protocol=paho.MQTTv5,
            reconnect_on_failure=False,
        )
        self._client.tls_set_context(ssl_context)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._cond = threading.Condition()
        self._connack: ReasonCode | None = None
        self._gone: str | None = None
        self._acks: dict[int, Any] = {}
        self.messages: list[Received] = []
        c = self._client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = lambda cl, u, mid, rc, props: self._ack(mid, rc)
        c.on_subscribe = lambda cl, u, mid, codes, props: self._ack(mid, list(codes))
        c.on_unsubscribe = lambda cl, u, mid, codes, props: self._ack(mid, None)
        c.on_message = self._on_message

    # --- callbacks (paho's thread) ----------------------------------------------------------

    def _on_connect(self, c: Any, u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        with self._cond:
            self._connack = rc
            self._cond.notify_all()

    def _on_disconnect(self, c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._cond:
            self._gone = str(rc)
            self._cond.notify_all()

    def _ack(self, mid: int, value: Any) -> None:
        with self._cond:
            self._acks[mid] = value
            self._cond.notify_all()

    def _on_message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(
                Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.perf_counter())
            )
            self._cond.notify_all()

    # --- calls ------------------------------------------------------------------------------

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: ready() or self._gone is not None, timeout):
                raise FleetError(f"the broker did not answer ({what}) within {timeout:g} s")
            if not ready():
                raise FleetError(f"connection to the broker lost ({what}): {self._gone}")

    def connect(self) -> None:
        """Connect (clean start, no session kept) and start paho's network thread."""
        try:
            self._client.connect(self.host, self.port, keepalive=30, clean_start=True)
        except ssl.SSLError as err:
            raise FleetError(f"TLS with the broker {self.host}:{self.port} failed: {err}") from err
        except OSError as err:
            raise FleetError(
                f"cannot reach the broker {self.host}:{self.port}: {err.strerror or err}"
            ) from err
        self._client.loop_start()
        self._wait(lambda: self._connack is not None, self.timeout, "CONNACK")
        assert self._connack is not None
        if self._connack.is_failure:
            raise FleetError(f"the broker refused the connection: {self._connack.getName()}")

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> FleetMqtt:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def subscribe(self, filters: Sequence[str], qos: int = 0) -> None:
        """Subscribe and wait for the SUBACK (FleetError if refused). QoS 0 by default: this
        clean, short-lived connection gains nothing from QoS 1, and the broker's queue limit for
        QoS 1 (1,000 a client) would drop part of a large snapshot or of a bulk action's reports."""
        rc, mid = self._client.subscribe([(f, SubscribeOptions(qos=qos)) for f in filters])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise FleetError(f"subscribe failed: {paho.error_string(rc)}")
        self._wait(lambda: mid in self._acks, self.timeout, "SUBACK")
        for name, code in zip(filters, self._acks.pop(mid), strict=False):
            if code.is_failure:
                raise FleetError(f"the broker refused the subscription {name}: {code.getName()}")

    def unsubscribe(self, filters: Sequence[str]) -> None:
        """Unsubscribe and wait for the UNSUBACK."""
        rc, mid = self._client.unsubscribe(list(filters))
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise FleetError(f"unsubscribe failed: {paho.error_string(rc)}")
        self._wait(lambda: mid in self._acks, self.timeout, "UNSUBACK")
        self._acks.pop(mid, None)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish with QoS 1 and wait for the PUBACK (FleetError if refused)."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise FleetError(f"publish failed: {paho.error_string(info.rc)}")
        self._wait(lambda: info.mid in self._acks, self.timeout, "PUBACK")
        code = self._acks.pop(info.mid)
        if isinstance(code, ReasonCode) and code.is_failure:
            raise FleetError(f"the broker refused the message to {topic}: {code.getName()}")

    def publish_many(self, items: Sequence[tuple[str, bytes, bool]]) -> list[str | None]:
        """Publish (topic, payload, retain) with QoS 1 all at once, then wait for every PUBACK;
        per item None, or why the broker refused it."""
        mids: list[int | None] = []
        errors: list[str | None] = []
        for name, payload, retain in items:
            info = self._client.publish(name, payload, qos=1, retain=retain)
            ok = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            mids.append(info.mid if ok else None)
            errors.append(None if ok else f"publish failed: {paho.error_string(info.rc)}")
        pending = {m for m in mids if m is not None}
        wait = self.timeout + len(items) / 1000.0
        self._wait(lambda: pending <= self._acks.keys(), wait, "PUBACK")
        for i, mid in enumerate(mids):
            code = self._acks.pop(mid, None) if mid is not None else None
            if isinstance(code, ReasonCode) and code.is_failure:
                errors[i] = f"the broker refused the message: {code.getName()}"
        return errors

    def wait_each(
        self,
        matchers: Mapping[str, Callable[[Received], bool]],
        timeout: float,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Received]:
        """For each topic, its first message that its matcher accepts, until all have one or
        `timeout` passes; `progress(found, total)` whenever more are found."""
        deadline = time.monotonic() + timeout
        found: dict[str, Received] = {}
        with self._cond:
            seen = 0
            while True:
                before = len(found)
                for msg in self.messages[seen:]:
                    match = matchers.get(msg.topic)
                    if match is not None and msg.topic not in found and match(msg):
                        found[msg.topic] = msg
                seen = len(self.messages)
                if progress is not None and len(found) != before:
                    progress(len(found), len(matchers))
                left = deadline - time.monotonic()
                if len(found) == len(matchers) or left <= 0 or self._gone is not None:
                    return found
                self._cond.wait(left)

    def snapshot(self, filters: Sequence[str]) -> list[Received]:
        """Every retained message on `filters` (subscribe, then wait for a marker to return)."""
        marker = f"fleet/v1/{self.admin_name}/sync/{secrets.token_hex(8)}"
        self.subscribe([*filters, marker])
        token = secrets.token_bytes(8)
        self.publish(marker, token)
        self._wait(
            lambda: any(m.topic == marker and m.payload == token for m in self.messages),
            self.timeout,
            "sync marker",
        )
        with self._cond:
            return [m for m in self.messages if m.topic != marker]

    def wait_for(self, match: Callable[[Received], bool], timeout: float) -> Received | None:
        """The first message (already received or to come) that `match`es; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for msg in self.messages[seen:]:
                    if match(msg):
                        return msg
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0 or self._gone is not None:
                    return None
                self._cond.wait(left)
