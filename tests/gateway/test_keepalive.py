"""aiohttp's server as the kiosks use it, over real TLS on raw keep-alive connections: pipelined
and split requests answered in order, every endpoint on one connection, the answer's head, and
shutdown closing idle and half-sent connections."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import ssl

import pytest

from gateway.server import RunningGateway
from protocol.messages import encode_replay_key
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeGateway, new_request_id

NIK = persona("ayu").nik


class Conn:
    """A raw keep-alive TLS connection that reads whole answers (Content-Length framed)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, gw: RunningGateway, ctx: ssl.SSLContext) -> Conn:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gw.port, ssl=ctx, server_hostname="localhost"
        )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, bytes, bytes]:
        """(status, head, body) of the next answer."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        length = re.search(rb"\r\nContent-Length: (\d+)\r\n", head, re.IGNORECASE)
        assert length is not None
        body = await asyncio.wait_for(self.reader.readexactly(int(length.group(1))), 5)
        return int(head.split(b" ")[1]), head[:-4], body

    async def closed(self) -> bool:
        """True once the server closed the connection (waits up to 5 s)."""
        try:
            return await asyncio.wait_for(self.reader.read(), 5) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


def verification(rid: str | None = None) -> bytes:
    rid = rid or new_request_id()
    body = json.dumps(
        {
            "request_id": rid,
            "nik": NIK,
            "match": {"finger": "right_index", "score": 180, "tries": 1},
            "reader": {"reader_id": "RDR-X", "sam_id": "SAM-X"},
            "replay_key": encode_replay_key(hashlib.sha256(rid.encode()).digest()),  # per id
        }
    ).encode()
    return (
        b"POST /v1/verifications HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


@pytest.fixture
async def gw(make_gateway: MakeGateway) -> RunningGateway:
    return await make_gateway()


@pytest.fixture
def kiosk_ctx(certs: Certs) -> ssl.SSLContext:
    return certs.pki.client_context(certs.devices["KIOSK-B1"])


async def test_answer_head(gw: RunningGateway, kiosk_ctx: ssl.SSLContext) -> None:
    conn = await Conn.open(gw, kiosk_ctx)
    await conn.send(verification())
    status, head, body = await conn.answer()
    lines = head.split(b"\r\n")
    assert (status, lines[0]) == (200, b"HTTP/1.1 200 OK")
    names = sorted(line.split(b":", 1)[0].lower() for line in lines[1:])
    assert names == [b"content-length", b"content-type", b"date", b"server"]
    assert b"Server: kiosk-gateway" in lines
    assert b"Content-Type: application/json" in lines
    assert json.loads(body)["outcome"] == "FOUND"
    await conn.close()


async def test_pipelined_and_split_requests(gw: RunningGateway, kiosk_ctx: ssl.SSLContext) -> None:
    conn = await Conn.open(gw, kiosk_ctx)
    ids = [new_request_id() for _ in range(3)]
    await conn.send(b"".join(verification(rid) for rid in ids))
    for rid in ids:
        status, _, body = await conn.answer()
        assert (status, json.loads(body)["request_id"]) == (200, rid)
    raw = verification(ids[0])
    for i in range(0, len(raw), 7):
        await conn.send(raw[i : i + 7])
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["request_id"]) == (200, ids[0])  # replayed
    await conn.close()


async def test_many_pipelined_requests_answered_in_order(
    gw: RunningGateway, kiosk_ctx: ssl.SSLContext
) -> None:
    # Hundreds in one buffer are answered in order, and a fresh request among replays still
    # goes upstream.
    conn = await Conn.open(gw, kiosk_ctx)
    first, fresh = new_request_id(), new_request_id()
    await conn.send(verification(first))
    assert (await conn.answer())[0] == 200
    ids = [first] * 150 + [fresh] + [first] * 150
    await conn.send(b"".join(verification(rid) for rid in ids))
    got = [await conn.answer() for _ in ids]
    assert [status for status, _, _ in got] == [200] * len(ids)
    assert [json.loads(body)["request_id"] for _, _, body in got] == ids
    await conn.close()


async def test_every_endpoint_on_one_connection(
    gw: RunningGateway, kiosk_ctx: ssl.SSLContext
) -> None:
    conn = await Conn.open(gw, kiosk_ctx)
    await conn.send(verification())
    assert (await conn.answer())[0] == 200
    await conn.send(b"GET /v1/health HTTP/1.1\r\nHost: gw\r\n\r\n")
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["status"]) == (200, "ok")
    await conn.send(verification())
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["outcome"]) == (200, "FOUND")
    await conn.send(b"GET /v1/nik/" + NIK.encode() + b" HTTP/1.1\r\nHost: gw\r\n\r\n")
    status, head, body = await conn.answer()
    assert (status, json.loads(body)["error"]["code"]) == (404, "NOT_FOUND")
    assert NIK.encode() not in head + body
    await conn.send(verification())  # still open after a refusal
    assert (await conn.answer())[0] == 200
    await conn.close()


async def test_admin_certificate_on_a_device_route(gw: RunningGateway, certs: Certs) -> None:
    conn = await Conn.open(gw, certs.pki.client_context(certs.admin))
    await conn.send(verification())
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["error"]["code"]) == (403, "FORBIDDEN")
    await conn.close()


async def test_close_closes_connections(gw: RunningGateway, kiosk_ctx: ssl.SSLContext) -> None:
    idle = await Conn.open(gw, kiosk_ctx)
    partial = await Conn.open(gw, kiosk_ctx)
    await idle.send(verification())
    assert (await idle.answer())[0] == 200
    await partial.send(verification()[:40])  # a request head still arriving
    async with asyncio.timeout(1):  # neither waits for the shutdown timeout (2 s)
        await gw.close()
    assert await idle.closed() and await partial.closed()
    await idle.close()
    await partial.close()
