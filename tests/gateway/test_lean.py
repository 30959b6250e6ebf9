"""The lean device path: its request reader (golden vectors, fuzzing against a line-by-line
model) and, over real TLS, keep-alive, pipelining, split bytes and the hand-over to aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.leanhttp import (
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    AnswerWriter,
    LeanRequest,
    RequestReader,
    Verdict,
    http_date,
    read_request,
)
from gateway.server import RunningGateway
from gateway.upstream.http11 import ResponseParser
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeGateway, new_request_id

NIK = persona("ayu").nik
BODY = b'{"a":1}'
LEAN = (
    b"POST /v1/verifications HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
    b"Content-Length: 7\r\n\r\n" + BODY
)


def request(
    *headers: bytes, line: bytes = b"POST /v1/verifications HTTP/1.1", body: bytes = BODY
) -> bytes:
    return line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


JSON = b"Content-Type: application/json"
LENGTH = b"Content-Length: 7"


def test_lean_request() -> None:
    assert read_request(LEAN) == LeanRequest("/v1/verifications", BODY, len(LEAN))
    assert read_request(LEAN + b"POST") == LeanRequest("/v1/verifications", BODY, len(LEAN))
    returns = request(
        b"content-type:  APPLICATION/JSON ", b"CONTENT-LENGTH:7", line=b"POST /v1/returns HTTP/1.1"
    )
    assert read_request(returns) == LeanRequest("/v1/returns", BODY, len(returns))
    assert read_request(request(JSON, LENGTH, b"Connection: Keep-Alive")) != Verdict.HAND_OVER
    empty = request(JSON, b"Content-Length: 0", body=b"")
    assert read_request(empty) == LeanRequest("/v1/verifications", b"", len(empty))


@pytest.mark.parametrize("cut", [0, 1, 10, 33, 60, len(LEAN) - 8, len(LEAN) - 1])
def test_prefixes_of_a_lean_request_wait_for_more(cut: int) -> None:
    assert read_request(LEAN[:cut]) is Verdict.MORE


NOT_LEAN = [
    request(JSON, LENGTH, line=b"GET /v1/verifications HTTP/1.1"),
    request(JSON, LENGTH, line=b"POST /v1/verifications?x=1 HTTP/1.1"),
    request(JSON, LENGTH, line=b"POST /v1/verifications HTTP/1.0"),
    request(JSON, LENGTH, line=b"POST /v1/health HTTP/1.1"),
    request(JSON, b"Transfer-Encoding: chunked"),
    request(JSON, LENGTH, b"Content-Encoding: gzip"),
    request(JSON, LENGTH, b"Expect: 100-continue"),
    request(JSON, LENGTH, b"Upgrade: websocket"),
    request(JSON, LENGTH, b"Connection: close"),
    request(JSON, LENGTH, b"Connection: keep-alive, upgrade"),
    request(JSON, LENGTH, LENGTH),
    request(JSON, JSON, LENGTH),
    request(b"Content-Type: application/json; charset=utf-8", LENGTH),
    request(b"Content-Type: text/plain", LENGTH),
    request(LENGTH),
    request(JSON),
    request(JSON, b"Content-Length: -7"),
    request(JSON, b"Content-Length: 0x7"),
    request(JSON, b"Content-Length: 99999"),
    request(JSON, b"Content-Length: 16385", body=b""),
    request(JSON, LENGTH, b"X Bad: 1"),
    request(JSON, LENGTH, b" Folded: 1"),
    request(JSON, LENGTH, b"NoColon"),
    request(JSON, LENGTH, b"X-Nul: a\x00b"),
    request(JSON, LENGTH, b"X-Cr: a\rb"),
    request(JSON, LENGTH, *[b"X-N: 1"] * MAX_HEADERS),
    LEAN.replace(b"\r\n", b"\n"),
    b"\r\n" + LEAN,
    request(JSON, LENGTH, b"X-Long: " + b"a" * MAX_HEAD_BYTES),
    b"POST /v1/verifications HTTP/1.1\r\nX-Long: " + b"a" * MAX_HEAD_BYTES,
    NIK.encode() + b" / HTTP/1.1\r\n",
]


@pytest.mark.parametrize("raw", NOT_LEAN)
def test_anything_else_is_handed_over(raw: bytes) -> None:
    assert read_request(raw) is Verdict.HAND_OVER


def _model(buf: bytes) -> LeanRequest | Verdict:
    """A plain line-by-line statement of what the lean path accepts."""
    end = buf.find(b"\r\n\r\n")
    if end < 0 or end > MAX_HEAD_BYTES:
        first = buf.split(b"\n", 1)
        if len(buf) > MAX_HEAD_BYTES or b"\n\n" in buf or b"\n\r\n" in buf:
            return Verdict.HAND_OVER
        if len(first) == 2 and first[0] not in (
            b"POST /v1/verifications HTTP/1.1\r",
            b"POST /v1/returns HTTP/1.1\r",
        ):
            return Verdict.HAND_OVER
        return Verdict.MORE
    lines = buf[:end].split(b"\r\n")
    paths = {b"POST /v1/verifications HTTP/1.1": "/v1/verifications"}
    paths[b"POST /v1/returns HTTP/1.1"] = "/v1/returns"
    if lines[0] not in paths or len(lines) - 1 > MAX_HEADERS:
        return Verdict.HAND_OVER
    seen: dict[bytes, bytes] = {}
    token = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or not set(name) <= token:
            return Verdict.HAND_OVER
        if any((c < 0x20 and c != 9) or c == 0x7F for c in value):
            return Verdict.HAND_OVER
        name = name.lower()
        if name in (b"transfer-encoding", b"content-encoding", b"expect", b"upgrade"):
            return Verdict.HAND_OVER
        if name in (b"content-length", b"content-type", b"connection") and name in seen:
            return Verdict.HAND_OVER
        seen[name] = value.strip(b" \t").lower()
    length = seen.get(b"content-length", b"")
    if not (length.isdigit() and len(length) <= 5 and int(length) <= 16384):
        return Verdict.HAND_OVER
    if seen.get(b"content-type") != b"application/json":
        return Verdict.HAND_OVER
    if seen.get(b"connection", b"keep-alive") != b"keep-alive":
        return Verdict.HAND_OVER
    size = end + 4 + int(length)
    if len(buf) < size:
        return Verdict.MORE
    return LeanRequest(paths[lines[0]], buf[end + 4 : size], size)


header = st.sampled_from(
    [
        JSON,
        LENGTH,
        b"Content-Length: 3",
        b"Host: gw",
        b"connection: keep-alive",
        b"Connection: close",
        b"Expect: 100-continue",
        b"X-A:\t v \t",
        b"Bad Name: 1",
        b"X-B: \x7f",
        b"X-\xc3: 1",
        b"X-C: \xc3\xa9",
        b"Transfer-Encoding: chunked",
        b"content-type: Application/JSON",
        b"Content-Length: 00007",
        b":x",
    ]
)


@pytest.mark.fuzz
@given(
    st.sampled_from(
        [b"POST /v1/verifications HTTP/1.1", b"POST /v1/returns HTTP/1.1", b"GET / HTTP/1.1"]
    ),
    st.lists(header, max_size=6),
    st.binary(max_size=12),
    st.integers(0, 200),
)
def test_fuzz_reader_equals_the_model(
    line: bytes, headers: list[bytes], body: bytes, cut: int
) -> None:
    raw = request(*headers, line=line, body=body)
    remembering = RequestReader(size=4)
    for buf in (raw, raw[:cut], raw, raw + raw, raw[:cut]):
        assert read_request(buf) == _model(buf)
        assert remembering.read(buf) == _model(buf)


def test_remembered_heads() -> None:
    reader = RequestReader(size=2)
    head = LEAN[: -len(BODY)]
    assert reader.read(LEAN) == LeanRequest("/v1/verifications", BODY, len(LEAN))
    # The same head again: the body length comes from the remembered head.
    assert reader.read(head + BODY[:3]) is Verdict.MORE
    assert reader.read(LEAN + LEAN[:5]) == LeanRequest("/v1/verifications", BODY, len(LEAN))
    other = request(JSON, b"Content-Length: 2", body=b"{}")
    for raw in NOT_LEAN:
        assert reader.read(raw) is Verdict.HAND_OVER
    assert reader.read(other) == read_request(other)
    assert reader.read(LEAN) == read_request(LEAN)


@pytest.mark.fuzz
@given(st.binary(max_size=300))
def test_fuzz_any_bytes_give_a_verdict(raw: bytes) -> None:
    got = read_request(raw)
    assert got in (Verdict.MORE, Verdict.HAND_OVER) or isinstance(got, LeanRequest)
    assert got == _model(raw)


def test_answer_bytes() -> None:
    assert http_date(1795479408) == b"Tue, 24 Nov 2026 00:16:48 GMT"
    out = AnswerWriter().answer(409, b"{}")
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[:4] == [
        b"HTTP/1.1 409 Conflict",
        b"Content-Type: application/json",
        b"Server: kiosk-gateway",
        b"Content-Length: 2",
    ]
    assert lines[4].startswith(b"Date: ") and lines[4].endswith(b" GMT") and len(lines) == 5
    assert body == b"{}"


# ---------------------------------------------------------------- over real TLS


class Conn:
    """A raw keep-alive TLS connection that reads whole HTTP answers."""

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
        parser = ResponseParser()
        head = b""
        while not parser.done:
            chunk = await asyncio.wait_for(self.reader.read(1), 5)
            if not chunk:
                parser.feed_eof()
                break
            if not parser.started or head.find(b"\r\n\r\n") < 0:
                head += chunk
            parser.feed(chunk)
        return parser.status, head.partition(b"\r\n\r\n")[0], parser.body

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


def verification(rid: str | None = None, content_type: bytes = b"application/json") -> bytes:
    body = json.dumps(
        {
            "request_id": rid or new_request_id(),
            "nik": NIK,
            "match": {"finger": "right_index", "score": 180, "tries": 1},
            "reader": {"reader_id": "RDR-X", "sam_id": "SAM-X"},
        }
    ).encode()
    return (
        b"POST /v1/verifications HTTP/1.1\r\nHost: gw\r\nContent-Type: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (content_type, len(body), body)
    )


@pytest.fixture
async def gw(make_gateway: MakeGateway) -> RunningGateway:
    return await make_gateway()


@pytest.fixture
def kiosk_ctx(certs: Certs) -> ssl.SSLContext:
    return certs.pki.client_context(certs.devices["KIOSK-B1"])


def _headers(head: bytes) -> list[bytes]:
    return [line.split(b":", 1)[0] for line in head.split(b"\r\n")[1:]]


async def test_lean_answers_look_like_aiohttp_answers(
    gw: RunningGateway, kiosk_ctx: ssl.SSLContext
) -> None:
    conn = await Conn.open(gw, kiosk_ctx)
    await conn.send(verification())
    lean_status, lean_head, lean_body = await conn.answer()
    # A Content-Type parameter is not lean: aiohttp answers this one.
    await conn.send(verification(content_type=b"application/json; charset=utf-8"))
    status, head, body = await conn.answer()
    assert lean_status == status == 200
    assert lean_head.split(b"\r\n")[0] == head.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    assert _headers(lean_head) == _headers(head)
    assert json.loads(lean_body)["outcome"] == json.loads(body)["outcome"] == "FOUND"
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


async def test_many_pipelined_requests_answered_at_once(
    gw: RunningGateway, kiosk_ctx: ssl.SSLContext
) -> None:
    # Replays are answered within the read that brought them: hundreds in one buffer must be
    # answered in order, without recursion, and a fresh request among them still goes upstream.
    conn = await Conn.open(gw, kiosk_ctx)
    first, fresh = new_request_id(), new_request_id()
    await conn.send(verification(first))
    assert (await conn.answer())[0] == 200
    ids = [first] * 300 + [fresh] + [first] * 300
    await conn.send(b"".join(verification(rid) for rid in ids))
    got = b""
    while got.count(b'"outcome"') < len(ids):
        got += await asyncio.wait_for(conn.reader.read(65536), 5)
    assert got.count(b"HTTP/1.1 200 OK\r\n") == len(ids)
    assert re.findall(rb'"request_id":"([0-9a-f]{32})"', got) == [rid.encode() for rid in ids]
    await conn.close()


async def test_malformed_after_lean_requests_is_not_echoed(
    gw: RunningGateway, kiosk_ctx: ssl.SSLContext
) -> None:
    conn = await Conn.open(gw, kiosk_ctx)
    await conn.send(verification())
    assert (await conn.answer())[0] == 200
    await conn.send(b"POST /v1/verifications HTTP/1.1\r\nX-" + NIK.encode() + b"\x01: y\r\n\r\n")
    status, head, body = await conn.answer()
    assert status == 400
    assert json.loads(body) == {
        "error": {"code": "BAD_REQUEST", "message": "malformed HTTP request"}
    }
    assert NIK.encode() not in head + body
    await conn.close()


async def test_other_endpoints_on_a_lean_connection(
    gw: RunningGateway, kiosk_ctx: ssl.SSLContext
) -> None:
    conn = await Conn.open(gw, kiosk_ctx)
    await conn.send(verification())
    assert (await conn.answer())[0] == 200
    await conn.send(b"GET /v1/health HTTP/1.1\r\nHost: gw\r\n\r\n")
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["status"]) == (200, "ok")
    await conn.send(verification())  # served by aiohttp from now on, the same way
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["outcome"]) == (200, "FOUND")
    await conn.send(b"GET /v1/nik/" + NIK.encode() + b" HTTP/1.1\r\nHost: gw\r\n\r\n")
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["error"]["code"]) == (404, "NOT_FOUND")
    await conn.close()


async def test_bad_bodies_on_the_lean_path(gw: RunningGateway, kiosk_ctx: ssl.SSLContext) -> None:
    conn = await Conn.open(gw, kiosk_ctx)
    for body, field in (
        (b"[" + NIK.encode() + b"]", "body"),
        (b'{"nik": NaN}', "body"),
        (b"{}", "nik"),
    ):
        path = b"/v1/returns" if field == "nik" else b"/v1/verifications"
        await conn.send(
            b"POST %s HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path, len(body), body)
        )
        status, head, answer = await conn.answer()
        assert (status, json.loads(answer)["error"]["field"]) == (400, field)
        assert NIK.encode() not in head + answer
    await conn.close()


async def test_admin_certificate_on_the_lean_path(gw: RunningGateway, certs: Certs) -> None:
    conn = await Conn.open(gw, certs.pki.client_context(certs.admin))
    await conn.send(verification())
    status, _, body = await conn.answer()
    assert (status, json.loads(body)["error"]["code"]) == (403, "FORBIDDEN")
    await conn.close()


async def test_idle_connections_close(gw: RunningGateway, kiosk_ctx: ssl.SSLContext) -> None:
    gw._lean.keepalive_s = 0.3
    conn = await Conn.open(gw, kiosk_ctx)
    await conn.send(verification())
    assert (await conn.answer())[0] == 200
    assert await conn.closed()
    await conn.close()


async def test_close_closes_lean_connections(gw: RunningGateway, kiosk_ctx: ssl.SSLContext) -> None:
    idle = await Conn.open(gw, kiosk_ctx)
    partial = await Conn.open(gw, kiosk_ctx)
    await idle.send(verification())
    assert (await idle.answer())[0] == 200
    await partial.send(verification()[:-1])  # a request still arriving counts as idle
    await gw.close()
    assert await idle.closed() and await partial.closed()
    assert not gw._lean.connections
    await idle.close()
    await partial.close()
