"""Pooled keep-alive HTTP/1.1 connections to the upstream: one request per connection at a time,
a fixed cap on connections, a deadline per request, one retry when a reused connection turns out
to have been closed by the server before it answered.

Deadlines are checked by one timer per pool while requests are in flight (every tenth of the
timeout, at most every 100 ms), not by a timer per request.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from functools import partial
from typing import Any, cast
from urllib.parse import urlsplit

from gateway.errors import UpstreamError
from gateway.resume import Done, run_then, wait_done
from gateway.upstream.http11 import HttpParseError, ResponseParser, build_request, request_head


class _Connection(asyncio.Protocol):
    """One upstream connection, driving a ResponseParser per request."""

    __slots__ = ("closed", "deadline", "done", "parser", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.done: Done | None = None  # given the finished parser or an UpstreamError
        self.deadline = 0.0
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
            self.abort()
            self.finish(UpstreamError("garbage", str(err)))
            return
        if parser.done:
            self.finish(parser)

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
            self.finish(UpstreamError(kind, "connection closed before the answer"))
            return
        self.finish(parser)

    def send(self, data: bytes, deadline: float, done: Done) -> None:
        """Write one request; `done` gets the complete response or an UpstreamError."""
        assert self.transport is not None
        self.parser = ResponseParser()
        self.done = done
        self.deadline = deadline
        self.transport.write(data)

    def abort(self) -> None:
        """Drop the connection at once."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def finish(self, result: ResponseParser | UpstreamError) -> None:
        """End the request in flight (if any) with its result."""
        done, self.done, self.parser = self.done, None, None
        if done is not None:
            done(result)


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
        self._busy: set[_Connection] = set()  # requests in flight, checked by `_tick`
        self._ticker: asyncio.TimerHandle | None = None
        self._tick_s = min(0.1, timeout_s / 10)

    def head(self, method: str, path: str) -> bytes:
        """The prebuilt request head for a path under the upstream's base path."""
        return request_head(method, self.base_path + path, self._host_header)

    def start(self, head: bytes, extra_headers: bytes, body: bytes, done: Done) -> None:
        """Send one request; `done` gets (status, body) or an UpstreamError.

        On an idle connection this takes no task: `done` is called from the connection's data
        callback. Without one, a task waits for a free slot or opens a connection.
        """
        if self._closed:
            done(UpstreamError("connection", "pool closed"))
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        data = build_request(head, extra_headers, body)
        conn = self._idle_connection()
        if conn is None:
            run_then(self._fresh(data, deadline, True), done)
        else:
            self._send(conn, data, deadline, True, done)

    async def request(self, head: bytes, extra_headers: bytes, body: bytes) -> tuple[int, bytes]:
        """Send one request and return (status, body); UpstreamError on any failure."""
        result = await wait_done(partial(self.start, head, extra_headers, body))
        return cast(tuple[int, bytes], result)

    def _send(
        self, conn: _Connection, data: bytes, deadline: float, may_retry: bool, done: Done
    ) -> None:
        def finished(result: object) -> None:
            self._busy.discard(conn)
            if isinstance(result, UpstreamError):
                conn.abort()
                self._release(conn)
                if may_retry and result.kind == "connection" and not self._closed:
                    # The server had closed this idle connection: try a fresh one, once.
                    run_then(self._fresh(data, deadline, False), done)
                else:
                    done(result)
                return
            parser = cast(ResponseParser, result)
            if not parser.keep_alive:
                conn.abort()
            self._release(conn)
            done((parser.status, parser.body))

        self._busy.add(conn)
        if self._ticker is None:
            assert self._loop is not None
            self._ticker = self._loop.call_later(self._tick_s, self._tick)
        conn.send(data, deadline, finished)

    async def _fresh(self, data: bytes, deadline: float, may_retry: bool) -> tuple[int, bytes]:
        """Send on a connection handed over by another request or newly opened."""
        assert self._loop is not None
        conn, reused = await self._acquire(self._loop, deadline)
        start = partial(self._send, conn, data, deadline, may_retry and reused)
        return cast(tuple[int, bytes], await wait_done(start))

    def _tick(self) -> None:
        """Fail the requests past their deadline; runs while any request is in flight."""
        self._ticker = None
        assert self._loop is not None
        now = self._loop.time()
        for conn in [c for c in self._busy if c.deadline <= now]:
            conn.finish(UpstreamError("timeout"))
        if self._busy:
            self._ticker = self._loop.call_later(self._tick_s, self._tick)

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
        if self._closed:
            conn.abort()
        if conn.closed:
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
