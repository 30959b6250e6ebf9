"""The listener's connections: device requests on a lean asyncio protocol, the rest on aiohttp.

Every TLS connection starts on `DeviceConnection`. The two device POSTs in their plain form
(see gateway.leanhttp) are answered here: one request at a time, keep-alive, each answer written
with one `transport.write`. A request is handed to the handler with a callback for its answer,
which may come at once (a refusal) or later (from the upstream's data callback); no task is
made per request. At the first request that is anything else (health, admin, a wrong
method or path, a malformed or unusual request), the connection is handed, with the bytes not
yet consumed, to the aiohttp server, which serves it from then on with its usual behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from gateway.answers import Answer
from gateway.leanhttp import AnswerWriter, LeanRequest, RequestReader, Verdict
from gateway.peers import Peer, PeerIdentifier

log = logging.getLogger(__name__)
KEEPALIVE_S = 3630.0  # aiohttp's default keep-alive timeout, so both paths close idle alike
_MAX_PENDING = 64 * 1024  # bytes buffered while a request is answered before reading pauses
Reply = Callable[[Answer], None]
LeanHandler = Callable[[str, Peer | None, bytes, Reply], None]


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
        self.reader = RequestReader()
        self.connections: set[DeviceConnection] = set()

    def __call__(self) -> DeviceConnection:
        """A protocol for a new connection (the factory given to create_server)."""
        return DeviceConnection(self)

    async def close(self, timeout_s: float) -> None:
        """Close idle connections now, busy ones once answered (aborted after `timeout_s`)."""
        busy = []
        for conn in list(self.connections):
            answered = conn.close_when_idle()
            if answered is not None:
                busy.append(answered)
        if busy:
            await asyncio.wait(busy, timeout=timeout_s)
        for conn in list(self.connections):
            conn.abort()


class DeviceConnection(asyncio.Protocol):
    """One client connection while it is served on the lean path."""

    __slots__ = (
        "_answered",
        "_buf",
        "_busy",
        "_closing",
        "_in_next",
        "_last",
        "_listener",
        "_loop",
        "_paused",
        "_peer",
        "_timer",
        "_transport",
    )

    def __init__(self, listener: LeanListener) -> None:
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buf = b""
        self._peer: Peer | None = None
        self._busy = False  # a request is being answered
        self._in_next = False  # inside `_next`, which reads the next request itself
        self._answered: asyncio.Future[None] | None = None  # made for a close that waits
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
        if self._busy:
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

    def close_when_idle(self) -> asyncio.Future[None] | None:
        """Close now if no request is being answered, else after the answer (shutdown)."""
        self._closing = True
        if not self._busy:
            if self._transport is not None:
                self._transport.close()
            self._forget()
            return None
        if self._answered is None:
            self._answered = self._loop.create_future()
        return self._answered

    def abort(self) -> None:
        """Drop the connection at once."""
        if self._transport is not None:
            self._transport.abort()
        self._forget()

    def _next(self, buf: bytes) -> None:
        """Start the requests in `buf`, one at a time (pipelined ones answered at once too)."""
        while True:
            got = self._listener.reader.read(buf)
            if type(got) is not LeanRequest:
                if got is Verdict.MORE:
                    self._buf = buf
                else:
                    self._hand_over(buf)
                return
            self._buf = buf[got.size :]
            self._busy = True
            self._in_next = True
            try:
                self._listener.handler(got.endpoint, self._peer, got.body, self._answer)
            finally:
                self._in_next = False
            if self._busy or not self._buf or self._transport is None or self._closing:
                return
            buf = self._buf

    def _answer(self, answer: Answer) -> None:
        self._busy = False
        transport = self._transport
        if transport is None:
            return
        transport.write(self._listener.writer.answer(answer.status, answer.body))
        self._last = self._loop.time()
        if self._closing:
            transport.close()
            self._forget()
            return
        if self._paused:
            self._paused = False
            transport.resume_reading()
        if self._buf and not self._in_next:
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
        if not self._busy and self._loop.time() >= due:
            transport.close()
            self._forget()
            return
        if self._busy:
            due = self._loop.time() + self._listener.keepalive_s
        self._timer = self._loop.call_at(due, self._idle_check)

    def _forget(self) -> None:
        self._listener.connections.discard(self)
        if self._answered is not None and not self._answered.done():
            self._answered.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
