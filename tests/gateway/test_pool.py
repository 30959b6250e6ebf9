"""The pooled upstream client against a real socket server with scripted behaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from gateway.errors import UpstreamError
from gateway.upstream.pool import HttpPool

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class Upstream:
    """A tiny HTTP server; `behaviour(n)` picks what the n-th request gets."""

    behaviour: Callable[[int], str] = lambda n: "ok"
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: int = 0
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
                elif action == "garbage":
                    writer.write(b"NOT HTTP\r\n\r\n")
                    await writer.drain()
                    continue
                writer.write(OK)
                await writer.drain()
                if action == "close-after":
                    writer.close()
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


def pool(up: Upstream, connections: int = 4, timeout_s: float = 2.0) -> HttpPool:
    return HttpPool(f"http://127.0.0.1:{up.port}", connections=connections, timeout_s=timeout_s)


async def _post(p: HttpPool) -> tuple[int, bytes]:
    return await p.request(p.head("POST", "/x"), b"", b"{}")


async def test_sequential_requests_reuse_one_connection(upstream: Upstream) -> None:
    p = pool(upstream)
    for _ in range(5):
        assert await _post(p) == (200, b"{}")
    assert upstream.connections == 1
    await p.close()


async def test_connections_are_capped(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "hold" if n <= 2 else "ok"
    p = pool(upstream, connections=2)
    tasks = [asyncio.create_task(_post(p)) for _ in range(6)]
    async with asyncio.timeout(5):
        await upstream.two_held.wait()
    upstream.release.set()
    results = await asyncio.gather(*tasks)
    assert results == [(200, b"{}")] * 6
    assert upstream.most_open == 2
    await p.close()


async def test_timeout(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "silent"
    p = pool(upstream, timeout_s=0.2)
    with pytest.raises(UpstreamError) as info:
        await _post(p)
    assert info.value.kind == "timeout"
    await p.close()


async def test_idle_connection_closed_by_the_server_is_retried(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "close-after"
    p = pool(upstream)
    assert await _post(p) == (200, b"{}")
    assert await _post(p) == (200, b"{}")
    assert upstream.connections == 2
    await p.close()


async def test_garbage_is_an_error_and_the_connection_is_dropped(upstream: Upstream) -> None:
    upstream.behaviour = lambda n: "garbage" if n == 1 else "ok"
    p = pool(upstream)
    with pytest.raises(UpstreamError) as info:
        await _post(p)
    assert info.value.kind == "garbage"
    assert await _post(p) == (200, b"{}")
    assert upstream.connections == 2
    await p.close()
    with pytest.raises(UpstreamError):
        await _post(p)


async def test_nothing_listening() -> None:
    p = HttpPool("http://127.0.0.1:9", connections=1, timeout_s=1.0)
    with pytest.raises(UpstreamError) as info:
        await _post(p)
    assert info.value.kind == "connection"
