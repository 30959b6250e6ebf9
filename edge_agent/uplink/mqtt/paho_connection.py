"""One connection of the agent's MQTT client: a fresh paho client driven by the event loop.

No paho thread: the socket is watched with `loop.add_reader`/`add_writer`, and `loop_read`,
`loop_write` and `loop_misc` (keep-alive) run on the event loop. Only the blocking TCP connect
and TLS handshake run in an executor; the paho callbacks that fire there (socket opened, write
wanted) enter the loop through `call_soon_threadsafe`. Every other paho callback fires inside
`loop_read`/`loop_write`, on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.uplink.mqtt.errors import (
    MqttConnectionLost,
    MqttNotConnected,
    MqttRefused,
    MqttTimeout,
)
from edge_agent.uplink.mqtt.options import MqttOptions, WillFactory

MISC_INTERVAL = 1.0  # how often loop_misc (keep-alive, ping timeout) runs

ReceiveHandler = Callable[["PahoConnection", paho.MQTTMessage], None]


class PahoConnection:
    """One paho client and one network connection, with what waits on it. Use on the loop."""

    def __init__(
        self,
        options: MqttOptions,
        loop: asyncio.AbstractEventLoop,
        *,
        will: WillFactory | None = None,
        on_message: ReceiveHandler | None = None,
    ) -> None:
        self.options = options
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self.conn_id = secrets.token_hex(8)
        self.connack: asyncio.Future[tuple[ReasonCode, bool]] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()  # why it ended
        self._pubacks: dict[int, asyncio.Future[ReasonCode]] = {}
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self.sock: Any = None  # the socket registered with the loop
        self._writing = False
        self._abandoned = False
        self._misc: asyncio.Task[None] | None = None
        self.paho = self._make_client(will, on_message)

    def _make_client(
        self, will: WillFactory | None, on_message: ReceiveHandler | None
    ) -> paho.Client:
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
        last_will = will(self.conn_id) if will is not None else None
        if last_will is not None:
            client.will_set(
                last_will.topic, last_will.payload, qos=last_will.qos, retain=last_will.retain
            )
        client.on_socket_open = lambda c, u, sock: self._from_any_thread(self._opened, sock)
        client.on_socket_close = lambda c, u, sock: self._from_any_thread(self._closed, sock)
        client.on_socket_register_write = lambda c, u, sock: self._from_any_thread(
            self._want_write, sock, True
        )
        client.on_socket_unregister_write = lambda c, u, sock: self._from_any_thread(
            self._want_write, sock, False
        )
        client.on_connect = lambda c, u, flags, rc, props: _settle(
            self.connack, (rc, bool(flags.session_present))
        )
        client.on_disconnect = lambda c, u, flags, rc, props: _settle(self.lost, _rc_text(rc))
        client.on_publish = lambda c, u, mid, rc, props: _acked(self._pubacks, mid, rc)
        client.on_subscribe = lambda c, u, mid, codes, props: _acked(
            self._subacks, mid, list(codes)
        )
        if on_message is not None:
            client.on_message = lambda c, u, msg: on_message(self, msg)
        return client

    # --- the connection's life ----------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect, wait for the CONNACK and start the keep-alive; True if a session resumed."""
        opts = self.options
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = opts.session_expiry

        def blocking_connect() -> MQTTErrorCode:
            return self.paho.connect(
                opts.host, opts.port, opts.keepalive, clean_start=False, properties=props
            )

        try:
            async with asyncio.timeout(opts.connect_timeout + 1.0):
                rc = await self._loop.run_in_executor(None, blocking_connect)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise MqttNotConnected(paho.error_string(rc))
            waiters: set[asyncio.Future[Any]] = {self.connack, self.lost}
            async with asyncio.timeout(opts.connect_timeout):
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise MqttTimeout("no CONNACK in time") from None
        if self.connack not in done:
            raise MqttConnectionLost(f"closed before CONNACK: {self.lost.result()}")
        reason, session_present = self.connack.result()
        if reason.is_failure:
            raise MqttRefused("connection", reason.value, reason.getName())
        self._misc = self._loop.create_task(self._keep_alive(), name="mqtt-keepalive")
        return session_present

    async def disconnect(self) -> None:
        """Send DISCONNECT and wait (briefly) until paho has written it and closed."""
        self.paho.disconnect()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await asyncio.shield(self.lost)

    def discard(self, why: str) -> None:
        """Unregister and close the socket; fail whatever still waits on the connection."""
        self._abandoned = True
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        self._unregister()
        sock = self.paho.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        _settle(self.lost, why)
        error = MqttConnectionLost(f"connection lost: {why}")
        for waiters in (self._pubacks, self._subacks):
            for fut in waiters.values():
                if not fut.done():
                    fut.set_exception(error)
                    fut.exception()  # nobody may be waiting any more
            waiters.clear()

    def expect_puback(self, mid: int) -> asyncio.Future[ReasonCode]:
        """The PUBACK of message `mid`, when it comes."""
        fut: asyncio.Future[ReasonCode] = self._loop.create_future()
        self._pubacks[mid] = fut
        return fut

    def expect_suback(self, mid: int) -> asyncio.Future[list[ReasonCode]]:
        """The SUBACK of subscription `mid`, when it comes."""
        fut: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._subacks[mid] = fut
        return fut

    async def _keep_alive(self) -> None:
        while not self.lost.done():
            await asyncio.sleep(MISC_INTERVAL)
            if self.sock is None:
                continue
            self.paho.loop_misc()

    # --- socket events (on the loop) ----------------------------------------------------------

    def _from_any_thread(self, fn: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(fn, *args)

    def _opened(self, sock: Any) -> None:
        if self._abandoned or sock.fileno() < 0:
            with contextlib.suppress(OSError):
                sock.close()
            return
        self.sock = sock
        self._loop.add_reader(sock, self._readable)
        if self._writing:
            self._loop.add_writer(sock, self._writable)

    def _closed(self, sock: Any) -> None:
        if self.sock is sock:
            self._unregister()

    def _unregister(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _want_write(self, sock: Any, wanted: bool) -> None:
        self._writing = wanted
        if self.sock is None or self.sock is not sock:
            return  # _opened registers the writer if the socket is not registered yet
        if wanted:
            self._loop.add_writer(sock, self._writable)
        else:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(sock)

    def _readable(self) -> None:
        rc = self.paho.loop_read()
        # TLS may hold decrypted bytes the socket will not signal again: drain them too.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self.sock is not None:
            sock = self.paho.socket()
            pending = getattr(sock, "pending", None)
            if sock is None or pending is None or pending() <= 0:
                break
            rc = self.paho.loop_read()

    def _writable(self) -> None:
        self.paho.loop_write()


def _settle(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _acked(waiters: dict[int, asyncio.Future[Any]], mid: int, value: Any) -> None:
    fut = waiters.pop(mid, None)  # acks arrive in loop_read, after the waiter registered
    if fut is not None:  # (None: a QoS 0 publish written, or a waiter that gave up)
        _settle(fut, value)


def _rc_text(rc: Any) -> str:
    if isinstance(rc, ReasonCode):
        return f"0x{rc.value:02X} {rc.getName()}"
    return str(rc)
