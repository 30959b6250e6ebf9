"""Pooled keep-alive HTTP/1.1 connections to the upstream: one request per connection at a time,
a fixed cap on connections, a deadline per request, one retry when a reused connection turns out
to have been closed by the server before it answered.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit

from gateway.errors import UpstreamError
from gateway.upstream.http11 import HttpParseError, ResponseParser, build_request, request_head


class _Connection(asyncio.Protocol):
    """One upstream connection, driving a ResponseParser per request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.waiter: asyncio.Future[ResponseParser] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:
            self.abort()  # bytes nobody asked for: the connection is unusable
            return
        try:
            parser.feed(data)
        except HttpParseError as err:
            self._fail(UpstreamError("garbage", str(err)))
            self.abort()
            return
        if parser.done:
            self._resolve(parser)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        parser = self.parser
        if parser is None:
            return
        try:
            parser.feed_eof()
        except HttpParseError:
            kind = "garbage" if parser.started else "connection"
            self._fail(UpstreamError(kind, "connection closed before the answer"))
            return
        self._resolve(parser)

    def send(self, data: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[ResponseParser]:
        """Write one request; the future resolves with the complete response."""
        assert self.transport is not None
        self.parser = ResponseParser()
        self.waiter = loop.create_future()
        self.transport.write(data)
        return self.waiter

    def abort(self) -> None:
        """Drop the connection at once."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _resolve(self, parser: ResponseParser) -> None:
        waiter, self.waiter, self.parser = self.waiter, None, None
        if waiter is not None and not waiter.done():
            waiter.set_result(parser)

    def _fail(self, err: UpstreamError) -> None:
        waiter, self.waiter, self.parser = self.waiter, None, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)


class HttpPool:
    """Keep-alive connections to one upstream origin."""

    def __init__(
        self,
        url: str,
        *,
        connections: int,
        timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("upstream URL must be http:// or https:// with a host")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._host_header = parts.netloc.rsplit("@", 1)[-1]
        self.base_path = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        self._max = connections
        self._timeout = timeout_s
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def head(self, method: str, path: str) -> bytes:
        """The prebuilt request head for a path under the upstream's base path."""
        return request_head(method, self.base_path + path, self._host_header)

    async def request(self, head: bytes, extra_headers: bytes, body: bytes) -> tuple[int, bytes]:
        """Send one request and return (status, body); UpstreamError on any failure."""
        if self._closed:
            raise UpstreamError("connection", "pool closed")
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        data = build_request(head, extra_headers, body)
        for attempt in (0, 1):
            conn = self._idle_connection()
            if conn is not None:
                reused = True
            else:
                conn, reused = await self._acquire(loop, deadline)
            waiter = conn.send(data, loop)
            timer = loop.call_at(deadline, _expire, waiter)
            try:
                parser = await waiter
            except UpstreamError as err:
                conn.abort()
                self._release(conn)
                if reused and attempt == 0 and err.kind == "connection":
                    continue  # the server had closed this idle connection: try a fresh one
                raise
            except BaseException:
                conn.abort()
                self._release(conn)
                raise
            finally:
                timer.cancel()
            if not parser.keep_alive:
                conn.abort()
            self._release(conn)
            return parser.status, parser.body
        raise AssertionError("unreachable")  # pragma: no cover

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._open -= 1
        return None

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> tuple[_Connection, bool]:
        if self._open >= self._max:
            waiter: asyncio.Future[_Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_at(deadline, _expire, waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    given = waiter.result()
                    if given is None:
                        self._open -= 1
                        self._wake_one()
                    else:
                        self._release(given)
                raise
            finally:
                timer.cancel()
            if handed is not None:
                return handed, True
        else:
            self._open += 1
        try:
            return await self._connect(loop, deadline), False
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                )
        except TimeoutError as err:
            raise UpstreamError("timeout", "connecting") from err
        except (OSError, ssl.SSLError) as err:
            raise UpstreamError("connection", type(err).__name__) from err
        return conn

    def _release(self, conn: _Connection) -> None:
        if conn.closed or self._closed:
            self._open -= 1
            self._wake_one()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._open += 1  # the woken request opens a connection in this slot
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close every connection."""
        self._closed = True
        for conn in self._idle:
            conn.abort()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamError("connection", "pool closed"))


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamError("timeout"))
