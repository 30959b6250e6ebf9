"""The upstream's HTTP client (aiohttp) against a real socket server with scripted behaviour:
keep-alive reuse, the connection cap, deadlines, one resend when a kept-alive connection was
closed, malformed answers, and TLS to the upstream."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from gateway.errors import UpstreamError
from gateway.upstream.client import MAX_ANSWER_BYTES, UpstreamClient
from tests.gateway.conftest import Certs

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class Upstream:
    """A tiny HTTP server; `behaviour(n)` picks what the n-th request gets."""

    behaviour: Callable[[int], str] = lambda n: "ok"
    raw: bytes = OK  # what "raw" answers
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: int = 0
    heads: list[bytes] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0
    two_held: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self.requests += 1
                action = self.behaviour(self.requests)
                if action == "hold":
                    self.held += 1
                    if self.held == 2:
                        self.two_held.set()
                    await self.release.wait()
                elif action == "silent":
                    await asyncio.Event().wait()
                elif action == "drop":
                    return
                elif action in ("garbage", "raw"):
                    writer.write(b"NOT HTTP\r\n\r\n" if action == "garbage" else self.raw)
                    await writer.drain()
                    if action == "raw":
                        return
                    continue
                writer.write(OK)
                await writer.drain()
                if action == "close-after":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    server = await asyncio.start_server(up.handle, "127.0.0.1", 0)
    up.port = server.sockets[0].getsockname()[1]
    yield up
    up.release.set()
    server.close()


def client(up: Upstream, connections: int = 4, timeout_s: float = 2.0) -> UpstreamClient:
    return UpstreamClient(
        f"http://127.0.0.1:{up.port}/base", connections=connections, timeout_s=timeout_s
    )


async def _post(c: UpstreamClient) -> tuple[int, bytes]:
    return await c.post(c.url("/x"), b"{}", "Bearer t")


async def test_sequential_requests_reuse_one_connection(upstream: Upstream) -> None:
    c = client(upstream)
    for _ in range(5):
        assert await _post(c) == (200, b"{}")
    assert upstream.connections == 1
    head = upstream.heads[0]
    assert head.startswith(b"POST /base/x HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t\r\n" in head
    assert b"\r\nContent-Type: application/json\r\n" in head
    assert b"User-Agent" not in head and b"Accept-Encoding" not in head
    await c.close()


async def test_connections_are_capped(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "hold" if n <= 2 else "ok"
    c = client(upstream, connections=2)
    tasks = [asyncio.create_task(_post(c)) for _ in range(6)]
    async with asyncio.timeout(5):
        await upstream.two_held.wait()
    upstream.release.set()
    results = await asyncio.gather(*tasks)
    assert results == [(200, b"{}")] * 6
    assert upstream.most_open == 2
    await c.close()


async def test_timeout(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "silent"
    c = client(upstream, timeout_s=0.2)
    with pytest.raises(UpstreamError) as info:
        await _post(c)
    assert info.value.kind == "timeout"
    await c.close()


async def test_idle_connection_closed_by_the_server_is_sent_again(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "close-after"
    c = client(upstream)
    assert await _post(c) == (200, b"{}")
    assert await _post(c) == (200, b"{}")
    assert upstream.connections == 2
    await c.close()


async def test_a_connection_dropped_twice_is_an_error(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "drop"
    c = client(upstream)
    with pytest.raises(UpstreamError) as info:
        await _post(c)
    assert info.value.kind == "connection"
    assert upstream.requests == 2  # sent once more, never more
    await c.close()


async def test_garbage_is_an_error_and_the_connection_is_dropped(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "garbage" if n == 1 else "ok"
    c = client(upstream)
    with pytest.raises(UpstreamError) as info:
        await _post(c)
    assert info.value.kind == "garbage"
    assert await _post(c) == (200, b"{}")
    assert upstream.connections == 2
    await c.close()
    with pytest.raises(UpstreamError):
        await _post(c)


async def test_nothing_listening() -> None:
    c = UpstreamClient("http://127.0.0.1:9", connections=1, timeout_s=1.0)
    with pytest.raises(UpstreamError) as info:
        await _post(c)
    assert info.value.kind == "connection"
    await c.close()


def test_only_http_urls() -> None:
    for url in ("ftp://h/", "http://", "h:80"):
        with pytest.raises(ValueError):
            UpstreamClient(url, connections=1, timeout_s=1.0)


GOOD = [
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"a"\r\n3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n',
        200,
        b'{"a":1}',
    ),
    (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 503, b""),
    (b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nx", 200, b"x"),
    (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, b"until the end"),
]


@pytest.mark.parametrize(("raw", "status", "body"), GOOD)
async def test_answer_framings(upstream: Upstream, raw: bytes, status: int, body: bytes) -> None:
    upstream.behaviour, upstream.raw = (lambda n: "raw"), raw
    c = client(upstream)
    assert await _post(c) == (status, body)
    await c.close()


MALFORMED = [
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 20000,
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_ANSWER_BYTES + 1),
    b"HTTP/1.1 200 OK\r\n\r\n" + b"a" * (MAX_ANSWER_BYTES + 1),
    b"",
]


@pytest.mark.parametrize("raw", MALFORMED)
async def test_malformed_answers_are_upstream_errors(upstream: Upstream, raw: bytes) -> None:
    upstream.behaviour, upstream.raw = (lambda n: "raw"), raw
    c = client(upstream)
    with pytest.raises(UpstreamError) as info:
        await _post(c)
    assert info.value.kind in ("garbage", "connection")
    await c.close()


async def test_tls_to_the_upstream(certs: Certs) -> None:
    """https:// with the CA of the upstream's certificate (`upstream.ca_file`); another CA fails."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certs.pki.server.cert, certs.pki.server.key)
    up = Upstream()
    server = await asyncio.start_server(up.handle, "127.0.0.1", 0, ssl=server_ctx)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}"
    trusting = ssl.create_default_context(cafile=str(certs.pki.server_ca.cert))
    c = UpstreamClient(url, connections=1, timeout_s=2.0, ssl_context=trusting)
    assert await _post(c) == (200, b"{}")
    await c.close()
    other = ssl.create_default_context(cafile=str(certs.pki.device_ca.cert))
    c = UpstreamClient(url, connections=1, timeout_s=2.0, ssl_context=other)
    with pytest.raises(UpstreamError) as info:
        await _post(c)
    assert info.value.kind == "connection"
    await c.close()
    server.close()
