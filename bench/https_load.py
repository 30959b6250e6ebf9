"""The load generator of bench.gateway_relay: kiosk-like verifications over keep-alive HTTP/1.1
(TLS 1.3 with a client certificate, or plain HTTP to the upstream), flat out or paced at a rate,
and a byte-counting TLS client for the bytes on the wire. wrk has no client certificates.

Every request carries a different NIK, as kiosk traffic does (see `nik_stream`), and a fresh
request id, so nothing is replayed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import socket
import ssl
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from simulators.personas import PERSONAS

# Region codes (province + regency + district) of the personas: real ones the gateway accepts.
REGIONS = sorted({p.nik[:6] for p in PERSONAS.values()})
NIK_SEED = 1945
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def nik_stream(seed: int = NIK_SEED) -> Iterator[str]:
    """Valid NIKs in a seeded random order: each 12-digit prefix once per pass, random serials.

    A prefix is a region of REGIONS, a birth day 01-28 (plus 40 for women), a month and a
    two-digit year. Drawing prefixes without replacement keeps the gateway's anti-scraping
    quiet (it refuses a prefix seen with 5 serials within 10 minutes); persona NIKs are
    skipped, so the generated population answers every NIK FOUND.
    """
    rng = random.Random(seed)
    personas = {p.nik for p in PERSONAS.values()}
    prefixes = array("l", range(len(REGIONS) * 56 * 12 * 100))
    while True:
        rng.shuffle(prefixes)
        for prefix in prefixes:
            rest, year = divmod(prefix, 100)
            rest, month = divmod(rest, 12)
            region, day = divmod(rest, 56)
            day = day + 1 if day < 28 else day - 28 + 41
            nik = f"{REGIONS[region]}{day:02d}{month + 1:02d}{year:02d}{rng.randint(1, 9999):04d}"
            if nik not in personas:
                yield nik


@dataclass
class Target:
    """A server under load: its port, TLS context (None: plain HTTP), path and extra headers."""

    name: str
    port: int
    tls: ssl.SSLContext | None
    path: str
    extra_headers: bytes = b""
    # Every server gets the same NIKs in the same order, from its own stream.
    niks: Iterator[str] = field(default_factory=nik_stream, repr=False)


_ids = iter(range(1, 1 << 62))


def request_bytes(target: Target) -> bytes:
    """One verification request: the target's next NIK, a fresh request id and replay key."""
    body = json.dumps(
        {
            "request_id": f"{next(_ids):032x}",
            "nik": next(target.niks),
            "match": {"finger": "right_index", "score": 180, "tries": 1},
            "reader": {"reader_id": "RDR-0001", "sam_id": "SAM-0001"},
            "replay_key": base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
        },
        separators=(",", ":"),
    ).encode()
    return b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n%s" % (
        target.path.encode(),
        target.extra_headers,
    ) + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def framed(buf: bytes) -> tuple[int, int] | None:
    """(status, size) of the answer at the start of `buf` once its head is in (the servers
    measured here frame every answer with Content-Length)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = _LENGTH.search(buf, 0, end)
    if length is None or not buf.startswith(b"HTTP/1.1 "):
        raise RuntimeError(f"not an answer this bench reads: {buf[:200]!r}")
    return int(buf[9:12]), end + 4 + int(length.group(1))


class Conn(asyncio.Protocol):
    """One keep-alive connection, one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        got = framed(self.buf)
        if got is not None and len(self.buf) >= got[1] and self.waiter is not None:
            if got[0] != 200:
                self.waiter.set_exception(RuntimeError(f"HTTP {self.buf[:300]!r}"))
            else:
                self.waiter.set_result(self.buf[: got[1]])
            self.buf = self.buf[got[1] :]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    async def call(self, data: bytes) -> bytes:
        """Send one request and return its whole answer."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


async def open_connections(target: Target, connections: int) -> list[Conn]:
    """Keep-alive connections, each handshaken and warmed by one request."""
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(connections):
        _, conn = await loop.create_connection(
            Conn,
            "127.0.0.1",
            target.port,
            ssl=target.tls,
            server_hostname="localhost" if target.tls else None,
        )
        conns.append(conn)
    for c in conns:
        await c.call(request_bytes(target))
    return conns


def close_all(conns: list[Conn]) -> None:
    """Close the connections."""
    for c in conns:
        if c.transport is not None:
            c.transport.close()


async def throughput(target: Target, conns: list[Conn], seconds: float) -> int:
    """Requests completed over open connections in `seconds`, one in flight on each."""
    stop = time.monotonic() + seconds
    count = 0

    async def worker(conn: Conn) -> None:
        nonlocal count
        while time.monotonic() < stop:
            await conn.call(request_bytes(target))
            count += 1

    await asyncio.gather(*(worker(c) for c in conns))
    return count


async def paced(
    target: Target, conns: list[Conn], seconds: float, rate: float, rtts: list[float]
) -> int:
    """Requests completed at `rate` per second, spread evenly over open connections; each
    one's round-trip time (seconds) is appended to `rtts`."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.01
    interval = len(conns) / rate
    count = 0

    async def worker(i: int, conn: Conn) -> None:
        nonlocal count
        due = start + i / rate
        while due <= start + seconds:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            data = request_bytes(target)
            t0 = time.perf_counter()
            await conn.call(data)
            rtts.append(time.perf_counter() - t0)
            count += 1
            due += interval

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    return count


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


# ---------------------------------------------------------------- bytes on the wire


@dataclass
class WireBytes:
    """TLS bytes (client→server, server→client) of a connection's phases."""

    handshake: tuple[int, int]
    first: tuple[int, int]
    steady: tuple[int, int]
    resumed: bool
    resumed_handshake: int


class _CountingTls:
    """A blocking TLS client over MemoryBIOs that counts the TLS bytes it sends and receives."""

    def __init__(self, port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost", session=session)
        self.sent = 0
        self.received = 0

    def _flush(self) -> None:
        data = self.out.read()
        if data:
            self.sock.sendall(data)
            self.sent += len(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.received += len(data)
        self.inc.write(data)

    def handshake(self) -> None:
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()

    def call(self, data: bytes) -> None:
        self.obj.write(data)
        self._flush()
        buf = b""
        while (got := framed(buf)) is None or len(buf) < got[1]:
            try:
                buf += self.obj.read(65536)
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def counters(self) -> tuple[int, int]:
        return self.sent, self.received

    def close(self) -> None:
        """Close like a well-behaved client: send close_notify, wait for the server's."""
        try:
            while True:
                try:
                    self.obj.unwrap()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    self._fill()
            self._flush()
        except (ssl.SSLError, ConnectionError):
            pass
        self.sock.close()


def _delta(after: tuple[int, int], before: tuple[int, int]) -> tuple[int, int]:
    return after[0] - before[0], after[1] - before[1]


def measure_wire(target: Target) -> WireBytes:
    """Handshake, first request, then one request on the established connection; resumption."""
    assert target.tls is not None
    c = _CountingTls(target.port, target.tls, None)
    c.handshake()
    hs = c.counters()
    c.call(request_bytes(target))
    first = _delta(c.counters(), hs)
    c.call(request_bytes(target))  # anything late (session tickets) arrives by now
    before = c.counters()
    c.call(request_bytes(target))
    steady = _delta(c.counters(), before)
    session = c.obj.session
    c.close()
    r = _CountingTls(target.port, target.tls, session)
    r.handshake()
    resumed_handshake = sum(r.counters())
    r.call(request_bytes(target))
    resumed = bool(r.obj.session_reused)
    r.close()
    return WireBytes(hs, first, steady, resumed, resumed_handshake)
