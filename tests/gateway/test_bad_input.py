"""Bad input gets a clear 4xx naming the problem, never echoing the value, never a trace."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from typing import Any

import pytest

from simulators.personas import persona
from tests.gateway.conftest import Certs, Client, MakeClient, MakeGateway

NIK = persona("bagas").nik
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"


def good() -> dict[str, Any]:
    return {
        "request_id": "0123456789abcdef0123456789abcdef",
        "nik": NIK,
        "match": {"finger": "right_index", "score": 120, "tries": 1},
        "reader": {"reader_id": "RDR-X", "sam_id": "SAM-X"},
        "replay_key": KEY,
    }


def with_(**over: Any) -> bytes:
    body = good()
    body.update(over)
    return json.dumps(body).encode()


@pytest.fixture
async def kiosk(make_gateway: MakeGateway, make_client: MakeClient, certs: Certs) -> Client:
    return make_client(await make_gateway(), certs.devices["KIOSK-B1"])


CASES = [
    (b'{"request_id": "' + NIK.encode() + b'", ', 400, "BAD_REQUEST", "body"),
    (b"[" + NIK.encode() + b"]", 400, "BAD_REQUEST", "body"),
    (b"\xff\xfe" + NIK.encode(), 400, "BAD_REQUEST", "body"),
    (b'{"nik": NaN}', 400, "BAD_REQUEST", "body"),
    (with_(extra=NIK), 400, "BAD_REQUEST", "extra"),
    (with_(**{NIK: 1}), 400, "BAD_REQUEST", "<field>"),
    (with_(nik=int(NIK)), 400, "BAD_REQUEST", "nik"),
    (with_(nik=NIK[:15]), 400, "BAD_REQUEST", "nik"),
    (with_(nik=NIK + "\n"), 400, "BAD_REQUEST", "nik"),
    (with_(nik=NIK[:15] + "x"), 400, "BAD_REQUEST", "nik"),
    (with_(request_id=NIK), 400, "BAD_REQUEST", "request_id"),
    (with_(match={"finger": NIK, "score": 1, "tries": 1}), 400, "BAD_REQUEST", "match.finger"),
    (
        with_(match={"finger": "right_index", "score": "1", "tries": 1}),
        400,
        "BAD_REQUEST",
        "match.score",
    ),
    (with_(reader={"reader_id": NIK + " ", "sam_id": "S"}), 400, "BAD_REQUEST", "reader.reader_id"),
    (with_(reader=None), 400, "BAD_REQUEST", "reader"),
    (json.dumps({"nik": NIK, "pad": "x" * 17000}).encode(), 413, "BODY_TOO_LARGE", None),
]


@pytest.mark.parametrize(("raw", "status", "code", "field"), CASES)
async def test_bad_bodies(
    kiosk: Client, raw: bytes, status: int, code: str, field: str | None
) -> None:
    got, body = await kiosk.request("POST", "/v1/verifications", raw=raw)
    assert got == status
    assert body["error"]["code"] == code
    assert body["error"].get("field") == field
    text = json.dumps(body)
    assert NIK not in text and NIK[:15] not in text and "Traceback" not in text


async def test_oversize_chunked_body(kiosk: Client) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 1024

    async with kiosk.session.post(
        kiosk.base + "/v1/verifications",
        data=chunks(),
        headers={"Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "BODY_TOO_LARGE"


async def test_wrong_content_type(kiosk: Client) -> None:
    status, body = await kiosk.request(
        "POST", "/v1/verifications", raw=json.dumps(good()).encode(), content_type="text/plain"
    )
    assert (status, body["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


async def test_unknown_paths_and_methods(kiosk: Client) -> None:
    status, body = await kiosk.request("GET", "/v1/verifications")
    assert (status, body["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    status, body = await kiosk.request("GET", f"/v1/nik/{NIK}")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert NIK not in json.dumps(body)


async def test_returns_reject_bad_bodies_too(kiosk: Client) -> None:
    status, body = await kiosk.request(
        "POST", "/v1/returns", kiosk.data_balikan(NIK, "a b", "ab" * 16)
    )
    assert (status, body["error"]["field"]) == (400, "return_number")


RAW_HTTP = [
    b"GET /" + NIK.encode() + b" HTTP/1.1 x\r\n\r\n",
    NIK.encode() + b" / HTTP/1.1\r\n\r\n",
    b"POST /v1/verifications HTTP/1.1\r\nHost: x\r\nX-" + NIK.encode() + b"\x01: y\r\n\r\n",
    b"POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Length: " + NIK.encode() + b"x\r\n\r\n",
    b"POST /v1/verifications HTTP/1.1\r\nHost: x\r\nX-Long: " + NIK.encode() * 700 + b"\r\n\r\n",
]


@pytest.mark.parametrize("payload", RAW_HTTP)
async def test_malformed_http_is_not_echoed(
    make_gateway: MakeGateway, certs: Certs, payload: bytes
) -> None:
    gw = await make_gateway()
    ctx = certs.pki.client_context(certs.devices["KIOSK-B1"])

    def exchange() -> bytes:
        with (
            socket.create_connection(("127.0.0.1", gw.port), 5) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(payload)
            out = b""
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                while chunk := tls.recv(65536):
                    out += chunk
            return out

    answer = await asyncio.get_running_loop().run_in_executor(None, exchange)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert json.loads(body) == {
        "error": {"code": "BAD_REQUEST", "message": "malformed HTTP request"}
    }
    assert NIK.encode() not in answer
