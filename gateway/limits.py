"""The listener's guard: how many connections, from where, and how long each may take.

The guard accepts TCP connections itself. Until a client's first bytes arrive, a connection is
a socket watched for reading: no TLS object, no buffer, no task. Connections over the limit in
all or per source address are closed at once, with a warning in the log. When the first bytes
(the ClientHello) arrive, the socket is handed to the event loop's TLS (`ssl_handshake_timeout`:
what is left of the handshake time, counted from the accept) and then to aiohttp's protocol,
wrapped to count it and to bound the time a request takes to arrive: from its first byte (or
from the handshake, for the first request) its head and body must be in within
`request_timeout_s`, however the bytes trickle in, or the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Callable
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.answers import error_answer
from gateway.api import Handler, read_body, respond, wipe_body
from gateway.config import ServerConfig
from gateway.logs import SECURITY
from protocol.messages import MAX_BODY_BYTES

log = logging.getLogger(__name__)
_WARN_EVERY_S = 10.0
_ACCEPT_RETRY_S = 0.1
_TLS_HANDSHAKE = b"\x16"  # the content type of the record that carries a ClientHello


class ConnectionGuard:
    """Accepts, counts and times the connections of one TLS listener."""

    def __init__(self, cfg: ServerConfig, ssl_context: ssl.SSLContext) -> None:
        self._cfg = cfg
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._factory: Callable[[], asyncio.Protocol] | None = None
        self._listeners: list[socket.socket] = []
        self._per_address: Counter[str] = Counter()
        self._open: dict[object, GuardedConnection] = {}  # by aiohttp's transport
        self._pending: set[_Pending] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._refused = 0
        self._warned_at = -_WARN_EVERY_S
        self.count = 0  # open connections, from accept to close
        self.changed = asyncio.Event()  # set whenever `count` changes

    async def start(self, factory: Callable[[], asyncio.Protocol]) -> int:
        """Listen on the configured address; the bound port."""
        self._factory = factory
        for info in await self._loop.getaddrinfo(
            self._cfg.host, self._cfg.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            sock = socket.socket(info[0], info[1], info[2])
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if info[0] == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(info[4])
            sock.listen(self._cfg.backlog)
            sock.setblocking(False)
            self._listeners.append(sock)
            self._loop.add_reader(sock.fileno(), self._accept, sock)
        return int(self._listeners[0].getsockname()[1])

    def close(self) -> None:
        """Stop listening and drop the connections that have not finished their handshake."""
        for sock in self._listeners:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self._listeners.clear()
        for pending in list(self._pending):
            self._drop(pending)
        for task in list(self._tasks):
            task.cancel()

    def middleware(self) -> Middleware:
        """Read each request's body within the connection's deadline, then run the route."""

        @web.middleware
        async def read_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
            conn = self._open.get(request.transport)
            try:
                if await read_body(request) is None:
                    too_large = f"the body is over {MAX_BODY_BYTES} bytes"
                    resp = respond(error_answer(413, "BODY_TOO_LARGE", too_large))
                    resp.force_close()
                    return resp
                if conn is None:
                    return await handler(request)
                conn.arrived()
                try:
                    return await handler(request)
                finally:
                    conn.answered()
            finally:
                wipe_body(request)

        return read_in_time

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(self._cfg.backlog):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # out of file descriptors: pause accepting a moment
                log.warning("accept failed: %s", err.strerror)
                self._loop.remove_reader(listener.fileno())
                self._loop.call_later(_ACCEPT_RETRY_S, self._resume, listener)
                return
            self._admit(sock, str(address[0]))

    def _resume(self, listener: socket.socket) -> None:
        if listener in self._listeners:
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    def _admit(self, sock: socket.socket, address: str) -> None:
        cfg = self._cfg
        if self.count >= cfg.max_connections:
            self._refuse(sock, "connection limit reached: %d open", self.count)
            return
        if self._per_address[address] >= cfg.max_connections_per_address:
            self._refuse(sock, "connection limit of one address reached: %d from %s", -1, address)
            return
        self.count += 1
        self.changed.set()
        self._per_address[address] += 1
        sock.setblocking(False)
        pending = _Pending(sock, address, self._loop.time() + cfg.handshake_timeout_s)
        pending.timer = self._loop.call_at(pending.deadline, self._drop, pending)
        self._pending.add(pending)
        self._loop.add_reader(sock.fileno(), self._hello, pending)

    def _refuse(self, sock: socket.socket, message: str, count: int, address: str = "") -> None:
        sock.close()
        self._refused += 1
        now = self._loop.time()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            shown = self._per_address[address] if address else count
            args = (shown, address) if address else (shown,)
            SECURITY.warning(message + " (%d refused)", *args, self._refused)
            self._refused = 0

    def _drop(self, pending: _Pending) -> None:
        """A connection that sent nothing in time, or the listener closing."""
        self._unwatch(pending)
        pending.sock.close()
        self._release(pending.address)

    def _unwatch(self, pending: _Pending) -> None:
        self._pending.discard(pending)
        if pending.timer is not None:
            pending.timer.cancel()
        self._loop.remove_reader(pending.sock.fileno())

    def _hello(self, pending: _Pending) -> None:
        """The first bytes are in: start TLS with what is left of the handshake time."""
        try:
            first = pending.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            first = b""
        if first != _TLS_HANDSHAKE:  # closed, or not TLS: no TLS object is made for it
            self._drop(pending)
            return
        self._unwatch(pending)
        task = self._loop.create_task(self._handshake(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handshake(self, pending: _Pending) -> None:
        left = max(pending.deadline - self._loop.time(), 0.001)
        factory = self._factory
        assert factory is not None
        address = pending.address
        try:
            await self._loop.connect_accepted_socket(
                lambda: GuardedConnection(self, factory(), address),
                pending.sock,
                ssl=self._ssl,
                ssl_handshake_timeout=left,
            )
        except BaseException as err:
            # A refused or timed-out handshake (ssl.SSLError is an OSError), or the listener
            # closing: the app protocol was never made, so the connection is released here.
            log.debug("TLS handshake failed: %s", type(err).__name__)
            with contextlib.suppress(OSError):
                pending.sock.close()
            self._release(address)
            if not isinstance(err, Exception):
                raise

    def _release(self, address: str) -> None:
        self.count -= 1
        self.changed.set()
        left = self._per_address[address] - 1
        if left > 0:
            self._per_address[address] = left
        else:
            del self._per_address[address]


class _Pending:
    """An accepted connection waiting for its first bytes."""

    __slots__ = ("address", "deadline", "sock", "timer")

    def __init__(self, sock: socket.socket, address: str, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.deadline = deadline
        self.timer: asyncio.TimerHandle | None = None


class GuardedConnection(asyncio.Protocol):
    """aiohttp's protocol of one TLS connection, counted and given a deadline per request."""

    __slots__ = ("_address", "_busy", "_guard", "_inner", "_more", "_timer", "_transport")

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol, address: str) -> None:
        self._guard = guard
        self._inner = inner
        self._address = address
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False  # a request's body is in and it is being answered
        self._more = False  # bytes of a next request came while one was answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._guard._open[transport] = self
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._busy:
            self._more = True
        elif self._timer is None:
            self._arm()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._transport is not None:
            self._guard._open.pop(self._transport, None)
            self._transport = None
            self._guard._release(self._address)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def arrived(self) -> None:
        """A request's head and body are in: its deadline is met."""
        self._busy = True
        self._disarm()

    def answered(self) -> None:
        """The request is answered: the next one's deadline starts at its first byte."""
        self._busy = False
        if self._more:
            self._more = False
            self._arm()

    def _arm(self) -> None:
        loop = self._guard._loop
        self._timer = loop.call_later(self._guard._cfg.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if self._transport is not None and not self._busy:
            log.info("closing a connection whose request did not arrive in time")
            self._transport.abort()
