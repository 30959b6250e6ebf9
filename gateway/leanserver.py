"""The listener's connections: device requests on a lean asyncio protocol, the rest on aiohttp.

Every TLS connection starts on `DeviceConnection`. The two device POSTs in their plain form
(see gateway.leanhttp) are answered here: one request at a time, keep-alive, each answer written
with one `transport.write`. At the first request that is anything else (health, admin, a wrong
method or path, a malformed or unusual request), the connection is handed, with the bytes not
yet consumed, to the aiohttp server, which serves it from then on with its usual behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import cast

from gateway.answers import Answer
from gateway.leanhttp import AnswerWriter, LeanRequest, Verdict, read_request
from gateway.peers import Peer, PeerIdentifier

log = logging.getLogger(__name__)
KEEPALIVE_S = 3630.0  # aiohttp's default keep-alive timeout, so both paths close idle alike
_MAX_PENDING = 64 * 1024  # bytes buffered while a request is answered before reading pauses
LeanHandler = Callable[[str, Peer | None, bytes], Awaitable[Answer]]


class LeanListener:
    """Makes the connections of the listener and closes them at shutdown."""

    def __init__(
        self,
        handler: LeanHandler,
        peers: PeerIdentifier,
        fallback: Callable[[], asyncio.Protocol],
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.handler = handler
        self.peers = peers
        self.fallback = fallback
        self.keepalive_s = keepalive_s
        self.writer = AnswerWriter()
        self.connections: set[DeviceConnection] = set()

    def __call__(self) -> DeviceConnection:
        """A protocol for a new connection (the factory given to create_server)."""
        return DeviceConnection(self)

    async def close(self, timeout_s: float) -> None:
        """Close idle connections now, busy ones once answered (aborted after `timeout_s`)."""
        busy = []
        for conn in list(self.connections):
            task = conn.close_when_idle()
            if task is not None:
                busy.append(task)
        if busy:
            await asyncio.wait(busy, timeout=timeout_s)
        for conn in list(self.connections):
            conn.abort()


class DeviceConnection(asyncio.Protocol):
    """One client connection while it is served on the lean path."""

    __slots__ = (
        "_buf",
        "_closing",
        "_last",
        "_listener",
        "_loop",
        "_paused",
        "_peer",
        "_task",
        "_timer",
        "_transport",
    )

    def __init__(self, listener: LeanListener) -> None:
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buf = b""
        self._peer: Peer | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._paused = False
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._peer = self._listener.peers.identify(transport.get_extra_info("ssl_object"))
        self._listener.connections.add(self)
        self._last = self._loop.time()
        self._timer = self._loop.call_at(self._last + self._listener.keepalive_s, self._idle_check)

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        buf = self._buf + data if self._buf else data
        if self._task is not None:
            self._buf = buf
            if len(buf) > _MAX_PENDING and not self._paused:
                self._paused = True
                self._transport.pause_reading()
            return
        self._next(buf)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._forget()

    def close_when_idle(self) -> asyncio.Task[None] | None:
        """Close now if no request is being answered, else after the answer (shutdown)."""
        self._closing = True
        if self._task is None:
            if self._transport is not None:
                self._transport.close()
            self._forget()
        return self._task

    def abort(self) -> None:
        """Drop the connection at once."""
        if self._transport is not None:
            self._transport.abort()
        self._forget()

    def _next(self, buf: bytes) -> None:
        got = read_request(buf)
        if type(got) is LeanRequest:
            self._buf = buf[got.size :]
            self._task = self._loop.create_task(self._answer(got))
        elif got is Verdict.MORE:
            self._buf = buf
        else:
            self._hand_over(buf)

    async def _answer(self, req: LeanRequest) -> None:
        listener = self._listener
        try:
            answer = await listener.handler(req.endpoint, self._peer, req.body)
        except Exception as err:  # the handler answers every error itself: this is a bug
            log.error("lean handler failed: %s", type(err).__name__)
            self.abort()
            return
        finally:
            self._task = None
        transport = self._transport
        if transport is None:
            return
        transport.write(listener.writer.answer(answer.status, answer.body))
        self._last = self._loop.time()
        if self._closing:
            transport.close()
            self._forget()
            return
        if self._paused:
            self._paused = False
            transport.resume_reading()
        if self._buf:
            self._next(self._buf)

    def _hand_over(self, buf: bytes) -> None:
        transport = self._transport
        assert transport is not None
        self._forget()
        self._buf = b""
        self._transport = None
        if self._paused:
            self._paused = False
            transport.resume_reading()
        protocol = self._listener.fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if buf:
            protocol.data_received(buf)

    def _idle_check(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        due = self._last + self._listener.keepalive_s
        if self._task is None and self._loop.time() >= due:
            transport.close()
            self._forget()
            return
        if self._task is not None:
            due = self._loop.time() + self._listener.keepalive_s
        self._timer = self._loop.call_at(due, self._idle_check)

    def _forget(self) -> None:
        self._listener.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
