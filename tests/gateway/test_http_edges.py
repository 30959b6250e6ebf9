"""The HTTP edges of the device API, sent as exact bytes over TLS: what aiohttp's parser lets
through is refused by the gateway with a clear status, never a 500, never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import secrets
import socket
import ssl
import time

import pytest

from common.clock import local_day
from gateway.server import RunningGateway
from protocol.messages import encode_replay_key
from protocol.regions import utc_offset_hours
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeClient, MakeGateway, new_request_id
from tests.waiting import until

NIK = persona("ayu").nik


def body(nik: str = NIK, request_id: str | None = None, replay_key: str | None = None) -> bytes:
    return json.dumps(
        {
            "request_id": request_id or new_request_id(),
            "nik": nik,
            "match": {"finger": "right_index", "score": 180, "tries": 1},
            "reader": {"reader_id": "RDR-X", "sam_id": "SAM-X"},
            "replay_key": replay_key or encode_replay_key(secrets.token_bytes(32)),
        }
    ).encode()


def post(path: bytes, payload: bytes, *extra: bytes, host: bytes | None = b"Host: gw\r\n") -> bytes:
    head = b"POST " + path + b" HTTP/1.1\r\n" + (host or b"")
    head += b"Content-Type: application/json\r\nConnection: close\r\n"
    head += b"".join(h + b"\r\n" for h in extra)
    if not any(h.lower().startswith(b"transfer-encoding") for h in extra):
        head += b"Content-Length: " + str(len(payload)).encode() + b"\r\n"
    return head + b"\r\n" + payload


async def exchange(gw: RunningGateway, certs: Certs, payload: bytes) -> tuple[int, bytes, bytes]:
    """Send bytes on a device's TLS connection; the status, head and body of the answer."""
    ctx = certs.pki.client_context(certs.devices["KIOSK-B1"])

    def run() -> bytes:
        with (
            socket.create_connection(("127.0.0.1", gw.port), 5) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(payload)
            out = b""
            with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
                while chunk := tls.recv(65536):
                    out += chunk
            return out

    answer = await asyncio.get_running_loop().run_in_executor(None, run)
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head, rest


def chunked(payload: bytes) -> bytes:
    return hex(len(payload))[2:].encode() + b"\r\n" + payload + b"\r\n0\r\n\r\n"


V = b"/v1/verifications"
CASES = [
    ("http/2.0 line", post(V, body()).replace(b"HTTP/1.1", b"HTTP/2.0", 1), 505),
    ("double slash", post(b"/" + V, body()), 404),
    ("double slash GET", b"GET //v1/verifications HTTP/1.1\r\nHost: gw\r\n\r\n", 404),
    ("query", post(V + b"?a=1", body()), 400),
    ("empty query", post(V + b"?", body()), 400),
    ("percent-encoded", post(b"/v1/verification%73", body()), 400),
    ("health query", b"GET /v1/health?x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", 400),
    (
        "duplicate nik",
        post(V, body().replace(b'"nik"', b'"nik": "3174010101010001", "nik"', 1)),
        400,
    ),
    ("no host", post(V, body(), host=None), 400),
    ("two hosts", post(V, body(), b"Host: other"), 400),
    ("gzip, chunked", post(V, chunked(body()), b"Transfer-Encoding: gzip, chunked"), 501),
    # chunked not the last coding: aiohttp's parser answers 400 and closes (RFC 9112, 6.1)
    ("te gzip", post(V, body(), b"Transfer-Encoding: gzip"), 400),
    ("te identity", post(V, chunked(body()), b"Transfer-Encoding: identity, chunked"), 501),
    ("plain chunked", post(V, chunked(body()), b"Transfer-Encoding: chunked"), 200),
    ("gzip body", post(V, gzip.compress(body()), b"Content-Encoding: gzip"), 415),
    ("bad gzip body", post(V, body(), b"Content-Encoding: gzip"), 415),
    ("bad deflate body", post(V, body(), b"Content-Encoding: deflate"), 415),
    ("returns gzip", post(b"/v1/returns", b"\x1f\x8bxx", b"Content-Encoding: gzip"), 415),
    (
        "health gzip",
        b"GET /v1/health HTTP/1.1\r\nHost: gw\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: 4\r\nConnection: close\r\n\r\n\x1f\x8bxx",
        415,
    ),
    ("plain", post(V, body()), 200),
]


@pytest.mark.parametrize(("name", "payload", "status"), CASES, ids=[c[0] for c in CASES])
async def test_http_edges(
    make_gateway: MakeGateway,
    certs: Certs,
    caplog: pytest.LogCaptureFixture,
    name: str,
    payload: bytes,
    status: int,
) -> None:
    gw = await make_gateway()
    caplog.set_level(logging.DEBUG)
    got, head, rest = await exchange(gw, certs, payload)
    assert got == status, (head, rest)
    assert head.startswith(b"HTTP/1.1 " if status != 400 else b"HTTP/1.")
    if status != 200:
        assert "error" in json.loads(rest)
    assert NIK.encode() not in head + rest or status == 200
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_answer_whose_connection_closed_is_kept_for_the_replay(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    sim: RunningDukcapilSim,
) -> None:
    """A request followed at once by close_notify is processed once, counted once, and a
    retry with its request id gets its answer without a second look-up or quota unit."""
    gw = await make_gateway()
    rid, key = new_request_id(), encode_replay_key(secrets.token_bytes(32))
    ctx = certs.pki.client_context(certs.devices["KIOSK-A2"])

    def send_and_close() -> None:
        with (
            socket.create_connection(("127.0.0.1", gw.port), 5) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(
                post(V, body(request_id=rid, replay_key=key)).replace(b"Connection: close\r\n", b"")
            )
            tls.settimeout(0.01)
            with contextlib.suppress(OSError):
                tls.unwrap()  # close_notify right after the request

    await asyncio.get_running_loop().run_in_executor(None, send_and_close)
    await until(lambda: sim.stats.queries >= 1, sim.stats.changed)
    kiosk = make_client(gw, certs.devices["KIOSK-A2"])
    status, answer = await kiosk.request(
        "POST", "/v1/verifications", raw=body(request_id=rid, replay_key=key)
    )
    assert (status, answer["outcome"], answer["request_id"]) == (200, "FOUND", rid)
    assert sim.stats.queries == 1
    day = local_day(time.time(), utc_offset_hours(gw.registry.institutions["perpus-a"].province))
    await gw.usage.flush()
    rows = await gw.store.usage("perpus-a", "0000-01-01", "9999-12-31")
    assert sum(r.count for r in rows) == 1
    assert await gw.store.quota_used("perpus-a", day) == 1
