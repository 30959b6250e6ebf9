"""paho-mqtt 2.x (MQTT v5) wrapped into the agent's asyncio event loop, after aiomqtt v2.

No paho thread: the socket is watched with `loop.add_reader`/`add_writer`, and `loop_read`,
`loop_write` and `loop_misc` (keep-alive) run on the event loop. Only the blocking TCP connect
and TLS handshake run in an executor; the paho callbacks that fire there (socket opened, write
wanted) enter the loop through `call_soon_threadsafe`. Every other paho callback fires inside
`loop_read`/`loop_write`, on the loop.

Each connection gets a fresh paho client, so nothing of an old connection (queued packets, the
Last Will's connection id) leaks into the next: what must survive an outage is the caller's
business (the usage outbox). The broker keeps the session (clean start off, session expiry),
so messages for the kiosk (desired state, commands) wait there while it is away. Incoming QoS 1
messages are acknowledged only after the handler has run (manual ack), one at a time, in order.

Reconnection: exponential backoff with jitter between `reconnect_min` and `reconnect_max`.
Call every method on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from common.tasks import cancel_and_wait
from edge_agent.uplink.mqtt.errors import (
    MqttConnectionLost,
    MqttError,
    MqttNotConnected,
    MqttRefused,
    MqttTimeout,
)

_log = logging.getLogger(__name__)

MISC_INTERVAL = 1.0  # how often loop_misc (keep-alive, ping timeout) runs


@dataclass(frozen=True, slots=True)
class Will:
    """The Last Will the broker publishes if the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


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
WillFactory = Callable[[str], Will | None]


@dataclass(eq=False)
class _Connection:
    """One paho client and one network connection, with what waits on it."""

    paho: paho.Client
    conn_id: str
    connack: asyncio.Future[tuple[ReasonCode, bool]]
    lost: asyncio.Future[str]
    pubacks: dict[int, asyncio.Future[ReasonCode]] = field(default_factory=dict)
    subacks: dict[int, asyncio.Future[list[ReasonCode]]] = field(default_factory=dict)
    sock: Any = None  # the socket registered with the loop
    writing: bool = False
    abandoned: bool = False
    misc: asyncio.Task[None] | None = None


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
        self._loop_thread: int | None = None
        self._conn: _Connection | None = None
        self._connected: asyncio.Event | None = None
        self._disconnected: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._on_connect_task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[tuple[_Connection, paho.MQTTMessage]] | None = None
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
        self._loop_thread = threading.get_ident()
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
            await self._disconnect(conn)
        if conn is not None:
            self._discard(conn, "client stopped")
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
            self._discard(conn, "dropped on purpose")

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
        fut = conn.pubacks[info.mid] = self._future()
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
        fut = conn.subacks[mid] = self._future()
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
                session_present = await self._connect(conn)
            except asyncio.CancelledError:
                self._discard(conn, "client stopped")
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
                self._discard(conn, "connect failed")
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
            self._discard(conn, why)
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

    def _new_connection(self) -> _Connection:
        opts = self.options
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=opts.client_id,
            protocol=paho.MQTTv5,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        client.connect_timeout = opts.connect_timeout
        client.tls_set_context(opts.ssl_context)
        conn = _Connection(
            paho=client,
            conn_id=secrets.token_hex(8),
            connack=self._future(),
            lost=self._future(),
        )
        if self._will is not None:
            will = self._will(conn.conn_id)
            if will is not None:
                client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.on_socket_open = lambda c, u, sock: self._from_any_thread(self._opened, conn, sock)
        client.on_socket_close = lambda c, u, sock: self._from_any_thread(self._closed, conn, sock)
        client.on_socket_register_write = lambda c, u, sock: self._from_any_thread(
            self._want_write, conn, sock, True
        )
        client.on_socket_unregister_write = lambda c, u, sock: self._from_any_thread(
            self._want_write, conn, sock, False
        )
        client.on_connect = lambda c, u, flags, rc, props: _settle(
            conn.connack, (rc, bool(flags.session_present))
        )
        client.on_disconnect = lambda c, u, flags, rc, props: _settle(conn.lost, _rc_text(rc))
        client.on_publish = lambda c, u, mid, rc, props: self._acked(conn.pubacks, mid, rc)
        client.on_subscribe = lambda c, u, mid, codes, props: self._acked(
            conn.subacks, mid, list(codes)
        )
        client.on_message = lambda c, u, msg: self._received(conn, msg)
        return conn

    async def _connect(self, conn: _Connection) -> bool:
        opts = self.options
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = opts.session_expiry
        loop = asyncio.get_running_loop()

        def blocking_connect() -> MQTTErrorCode:
            return conn.paho.connect(
                opts.host, opts.port, opts.keepalive, clean_start=False, properties=props
            )

        try:
            async with asyncio.timeout(opts.connect_timeout + 1.0):
                rc = await loop.run_in_executor(None, blocking_connect)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise MqttNotConnected(paho.error_string(rc))
            waiters: set[asyncio.Future[Any]] = {conn.connack, conn.lost}
            async with asyncio.timeout(opts.connect_timeout):
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise MqttTimeout("no CONNACK in time") from None
        if conn.connack not in done:
            raise MqttConnectionLost(f"closed before CONNACK: {conn.lost.result()}")
        reason, session_present = conn.connack.result()
        if reason.is_failure:
            raise MqttRefused("connection", reason.value, reason.getName())
        conn.misc = loop.create_task(self._misc(conn), name="mqtt-keepalive")
        return session_present

    async def _disconnect(self, conn: _Connection) -> None:
        """Send DISCONNECT and wait (briefly) until paho has written it and closed."""
        conn.paho.disconnect()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await asyncio.shield(conn.lost)

    def _discard(self, conn: _Connection, why: str) -> None:
        """Unregister and close the connection's socket; fail whatever still waits on it."""
        conn.abandoned = True
        if conn.misc is not None:
            conn.misc.cancel()
            conn.misc = None
        self._unregister(conn)
        sock = conn.paho.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        _settle(conn.lost, why)
        error = MqttConnectionLost(f"connection lost: {why}")
        for waiters in (conn.pubacks, conn.subacks):
            for fut in waiters.values():
                if not fut.done():
                    fut.set_exception(error)
                    fut.exception()  # nobody may be waiting any more
            waiters.clear()

    async def _misc(self, conn: _Connection) -> None:
        while not conn.lost.done():
            await asyncio.sleep(MISC_INTERVAL)
            if conn.sock is None:
                continue
            conn.paho.loop_misc()

    # --- socket events (on the loop) ----------------------------------------------------------

    def _from_any_thread(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(fn, *args)

    def _opened(self, conn: _Connection, sock: Any) -> None:
        if conn.abandoned or sock.fileno() < 0:
            with contextlib.suppress(OSError):
                sock.close()
            return
        assert self._loop is not None
        conn.sock = sock
        self._loop.add_reader(sock, self._readable, conn)
        if conn.writing:
            self._loop.add_writer(sock, self._writable, conn)

    def _closed(self, conn: _Connection, sock: Any) -> None:
        if conn.sock is sock:
            self._unregister(conn)

    def _unregister(self, conn: _Connection) -> None:
        sock, conn.sock = conn.sock, None
        if sock is None or self._loop is None:
            return
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _want_write(self, conn: _Connection, sock: Any, wanted: bool) -> None:
        conn.writing = wanted
        if conn.sock is None or conn.sock is not sock or self._loop is None:
            return  # _opened registers the writer if the socket is not registered yet
        if wanted:
            self._loop.add_writer(sock, self._writable, conn)
        else:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(sock)

    def _readable(self, conn: _Connection) -> None:
        rc = conn.paho.loop_read()
        # TLS may hold decrypted bytes the socket will not signal again: drain them too.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and conn.sock is not None:
            sock = conn.paho.socket()
            pending = getattr(sock, "pending", None)
            if sock is None or pending is None or pending() <= 0:
                break
            rc = conn.paho.loop_read()

    def _writable(self, conn: _Connection) -> None:
        conn.paho.loop_write()

    # --- paho callbacks (on the loop, inside loop_read/loop_write) ----------------------------

    def _acked(self, waiters: dict[int, asyncio.Future[Any]], mid: int, value: Any) -> None:
        fut = waiters.pop(mid, None)  # acks arrive in loop_read, after the waiter registered
        if fut is not None:  # (None: a QoS 0 publish written, or a waiter that gave up)
            _settle(fut, value)

    def _received(self, conn: _Connection, msg: paho.MQTTMessage) -> None:
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

    def _current(self) -> _Connection:
        conn = self._conn
        if conn is None or not self.connected or conn.lost.done():
            raise MqttNotConnected("not connected to the broker")
        return conn

    def _future(self) -> asyncio.Future[Any]:
        loop = self._loop or asyncio.get_running_loop()
        return loop.create_future()

    async def _wait(self, fut: asyncio.Future[Any], timeout: float | None, what: str) -> Any:
        timeout = self.options.request_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(fut)
        except TimeoutError:
            raise MqttTimeout(f"no {what} within {timeout:g} s") from None


def _settle(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _rc_text(rc: Any) -> str:
    if isinstance(rc, ReasonCode):
        return f"0x{rc.value:02X} {rc.getName()}"
    return str(rc)


def _describe(err: BaseException) -> str:
    if isinstance(err, ssl.SSLError):
        return f"TLS: {err.reason or err}"
    if isinstance(err, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(err, OSError):
        return f"{type(err).__name__}: {err.strerror or err}"
    return str(err)
