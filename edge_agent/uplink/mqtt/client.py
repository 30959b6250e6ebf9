"""paho-mqtt 2.x (MQTT v5) wrapped into the agent's asyncio event loop, after aiomqtt v2.

No paho thread: each connection is a `paho_connection.PahoConnection` whose socket the event
loop watches. Each connection gets a fresh paho client, so nothing of an old connection (queued
packets, the Last Will's connection id) leaks into the next: what must survive an outage is the
caller's business (the usage outbox). The broker keeps the session (clean start off, session
expiry), so messages for the kiosk (desired state, commands) wait there while it is away.
Incoming QoS 1 messages are acknowledged only after the handler has run (manual ack), one at a
time, in order.

Reconnection: exponential backoff with jitter between `reconnect_min` and `reconnect_max`.
Call every method on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from common.tasks import cancel_and_wait
from edge_agent.uplink.mqtt.errors import MqttError, MqttNotConnected, MqttRefused, MqttTimeout
from edge_agent.uplink.mqtt.options import MqttOptions, WillFactory
from edge_agent.uplink.mqtt.paho_connection import PahoConnection

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """A message received from the broker."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(slots=True)
class ClientStats:
    """What happened on the client (tests, health, the bench)."""

    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    published: int = 0
    received: int = 0


ConnectHandler = Callable[[bool], Awaitable[None]]
MessageHandler = Callable[[Message], Awaitable[None]]


class MqttClient:
    """An MQTT v5 client living on the event loop: start(), publish()/subscribe(), stop()."""

    def __init__(
        self,
        options: MqttOptions,
        *,
        will: WillFactory | None = None,
        on_connect: ConnectHandler | None = None,
        on_message: MessageHandler | None = None,
        on_connect_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.options = options
        self._on_failure = on_connect_failure
        self._will = will
        self._on_connect = on_connect
        self._on_message = on_message
        self.stats = ClientStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: PahoConnection | None = None
        self._connected: asyncio.Event | None = None
        self._disconnected: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._on_connect_task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[tuple[PahoConnection, paho.MQTTMessage]] | None = None
        self._stopping = False

    # --- what the owner sees ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a connection is up (CONNACK received, not lost)."""
        return self._connected is not None and self._connected.is_set()

    @property
    def conn_id(self) -> str | None:
        """The id of the current connection (its Last Will carries it), or None."""
        return self._conn.conn_id if self._conn is not None and self.connected else None

    async def wait_connected(self, timeout: float) -> None:
        """Return once connected; MqttTimeout after `timeout` seconds."""
        if self._connected is None:
            raise MqttNotConnected("the client is not started")
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise MqttTimeout(f"no connection to the broker within {timeout:g} s") from None

    async def wait_disconnected(self, timeout: float) -> None:
        """Return once there is no connection; MqttTimeout after `timeout` seconds."""
        if self._disconnected is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._disconnected.wait()
        except TimeoutError:
            raise MqttTimeout(f"still connected after {timeout:g} s") from None

    async def start(self) -> None:
        """Start connecting (in the background, with retries); returns at once."""
        if self._supervisor is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._inbox = asyncio.Queue()
        self._stopping = False
        self._dispatcher = self._loop.create_task(self._dispatch(), name="mqtt-dispatch")
        self._supervisor = self._loop.create_task(self._run(), name="mqtt-connection")

    async def stop(self, final: Sequence[tuple[str, bytes, int, bool]] = ()) -> None:
        """Publish `final` (topic, payload, qos, retain), DISCONNECT cleanly (no Last Will)."""
        self._stopping = True
        await cancel_and_wait(self._supervisor)
        await cancel_and_wait(self._on_connect_task)
        self._supervisor = self._on_connect_task = None
        conn = self._conn
        if conn is not None and self.connected:
            for topic, payload, qos, retain in final:
                try:
                    await self.publish(topic, payload, qos=qos, retain=retain, timeout=2.0)
                except MqttError as err:
                    _log.warning("final message to %s not sent: %s", topic, err)
            await conn.disconnect()
        if conn is not None:
            conn.discard("client stopped")
        self._conn = None
        if self._connected is not None and self._disconnected is not None:
            self._connected.clear()
            self._disconnected.set()
        await cancel_and_wait(self._dispatcher)
        self._dispatcher = None

    async def drop_connection(self) -> None:
        """Close the socket without DISCONNECT (the broker publishes the Last Will); reconnects."""
        conn = self._conn
        if conn is not None and conn.sock is not None and not conn.lost.done():
            conn.discard("dropped on purpose")

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Publish; with QoS 1 wait for the PUBACK (MqttRefused if its reason is a failure)."""
        conn = self._current()
        try:
            info = conn.paho.publish(topic, payload, qos=qos, retain=retain)
        except ValueError as err:
            raise MqttError(f"cannot publish to {topic}: {err}") from err
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttNotConnected(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        self.stats.published += 1
        if qos == 0:
            return
        fut = conn.expect_puback(info.mid)
        reason = await self._wait(fut, timeout, f"PUBACK for {topic}")
        if reason.is_failure:
            raise MqttRefused(f"publish to {topic}", reason.value, reason.getName())

    async def subscribe(
        self, filters: Sequence[tuple[str, int]], *, timeout: float | None = None
    ) -> None:
        """Subscribe to (filter, qos) pairs; MqttRefused if the broker refuses any of them."""
        conn = self._current()
        if not filters:
            return
        topics = [(f, SubscribeOptions(qos=q)) for f, q in filters]
        rc, mid = conn.paho.subscribe(topics)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttNotConnected(f"subscribe failed: {paho.error_string(rc)}")
        fut = conn.expect_suback(mid)
        codes = await self._wait(fut, timeout, "SUBACK")
        for (name, _), code in zip(filters, codes, strict=False):
            if code.is_failure:
                raise MqttRefused(f"subscription to {name}", code.value, code.getName())

    # --- connection supervisor ----------------------------------------------------------------

    async def _run(self) -> None:
        opts = self.options
        delay = opts.reconnect_min
        failures = 0
        while True:
            conn = self._new_connection()
            try:
                session_present = await conn.connect()
            except asyncio.CancelledError:
                conn.discard("client stopped")
                raise
            except (MqttError, OSError, ssl.SSLError, TimeoutError, ValueError) as err:
                failures += 1
                self.stats.connect_failures += 1
                loud = failures in (1, 10) or failures % 100 == 0
                level = logging.WARNING if loud else logging.DEBUG
                _log.log(
                    level,
                    "cannot connect to the broker %s:%d (%d failures): %s",
                    opts.host,
                    opts.port,
                    failures,
                    _describe(err),
                )
                conn.discard("connect failed")
                if self._on_failure is not None:
                    self._on_failure(err)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, opts.reconnect_max)
                continue
            failures = 0
            delay = opts.reconnect_min
            self._conn = conn
            self.stats.connects += 1
            assert self._connected is not None and self._disconnected is not None
            self._disconnected.clear()
            self._connected.set()
            _log.info(
                "connected to the broker %s:%d as %s (session %s, connection %s)",
                opts.host,
                opts.port,
                opts.client_id,
                "resumed" if session_present else "new",
                conn.conn_id,
            )
            if self._on_connect is not None:
                self._on_connect_task = asyncio.get_running_loop().create_task(
                    self._run_on_connect(session_present), name="mqtt-on-connect"
                )
            why = await asyncio.shield(conn.lost)
            self._connected.clear()
            self._disconnected.set()
            self.stats.disconnects += 1
            if self._on_connect_task is not None:
                self._on_connect_task.cancel()
                self._on_connect_task = None
            conn.discard(why)
            self._conn = None
            _log.warning("connection to the broker lost: %s", why)
            await asyncio.sleep(delay * random.uniform(0.1, 0.5))

    async def _run_on_connect(self, session_present: bool) -> None:
        assert self._on_connect is not None
        try:
            await self._on_connect(session_present)
        except MqttNotConnected as err:
            _log.info("connection ended during its set-up: %s", err)
        except MqttError as err:
            _log.error("setting up the MQTT connection failed: %s", err)
        except Exception:
            _log.exception("on_connect handler failed")

    def _new_connection(self) -> PahoConnection:
        assert self._loop is not None
        return PahoConnection(self.options, self._loop, will=self._will, on_message=self._received)

    # --- messages received (on the loop, inside loop_read) ------------------------------------

    def _received(self, conn: PahoConnection, msg: paho.MQTTMessage) -> None:
        self.stats.received += 1
        if self._inbox is not None:
            self._inbox.put_nowait((conn, msg))

    async def _dispatch(self) -> None:
        assert self._inbox is not None
        while True:
            conn, msg = await self._inbox.get()
            message = Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
            if self._on_message is not None:
                try:
                    await self._on_message(message)
                except Exception:
                    _log.exception("handling a message on %s failed", message.topic)
            if msg.qos > 0 and conn is self._conn and not conn.lost.done():
                conn.paho.ack(msg.mid, msg.qos)

    # --- helpers ------------------------------------------------------------------------------

    def _current(self) -> PahoConnection:
        conn = self._conn
        if conn is None or not self.connected or conn.lost.done():
            raise MqttNotConnected("not connected to the broker")
        return conn

    async def _wait(self, fut: asyncio.Future[Any], timeout: float | None, what: str) -> Any:
        timeout = self.options.request_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(fut)
        except TimeoutError:
            raise MqttTimeout(f"no {what} within {timeout:g} s") from None


def _describe(err: BaseException) -> str:
    if isinstance(err, ssl.SSLError):
        return f"TLS: {err.reason or err}"
    if isinstance(err, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(err, OSError):
        return f"{type(err).__name__}: {err.strerror or err}"
    return str(err)
