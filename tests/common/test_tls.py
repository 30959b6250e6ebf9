"""TLS context builders: a real handshake between them, and files that do not load named."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import TlsFileError
from common.tls import ResumingContext, client_context, configure_client, server_context
from kiosk_sim.pki import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def server(pki: Pki) -> AsyncIterator[int]:
    """An echo-nothing TLS server on loopback requiring a device certificate; yields its port."""
    ctx = server_context(pki.server.cert, pki.server.key, [pki.device_ca.cert])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    yield srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()


async def _exchange(port: int, ctx: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 5)
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_a_device_certificate_is_accepted_and_resumed(pki: Pki, server: int) -> None:
    device = pki.issue_device("KIOSK-T1", "inst")
    ctx = configure_client(ResumingContext(), pki.server_ca.cert, device.cert, device.key)
    assert ctx.protocol is ssl.PROTOCOL_TLS_CLIENT
    assert await _exchange(server, ctx) == b"ok"
    ctx.remember()
    assert await _exchange(server, ctx) == b"ok"
    ctx.remember()
    assert (ctx.handshakes, ctx.resumptions) == (2, 1)


async def test_no_client_certificate_is_refused(pki: Pki, server: int) -> None:
    ctx = client_context(pki.server_ca.cert)
    try:
        data: bytes | None = await _exchange(server, ctx)
    except (ssl.SSLError, ConnectionError):
        data = None
    assert not data  # refused in the handshake, or (TLS 1.3) at the first read


def test_files_that_do_not_load_are_named_by_role(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(TlsFileError) as ca:
        client_context(missing)
    assert (ca.value.role, ca.value.path) == ("ca", missing)
    with pytest.raises(TlsFileError) as identity:
        client_context(pki.server_ca.cert, pki.server.cert, missing)
    assert identity.value.role == "identity"
    with pytest.raises(TlsFileError) as server_ca:
        server_context(pki.server.cert, pki.server.key, [pki.device_ca.cert, missing])
    assert (server_ca.value.role, server_ca.value.path) == ("ca", missing)
    with pytest.raises(ValueError):
        client_context(pki.server_ca.cert, pki.server.cert)


def test_the_contexts_allow_tls_1_2_only_with_aead_and_forward_secrecy(pki: Pki) -> None:
    ctx = server_context(pki.server.cert, pki.server.key, [pki.device_ca.cert])
    suites = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert suites and all(c["aead"] and c["kea"] == "kx-ecdhe" for c in suites)
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    client = client_context(pki.server_ca.cert)
    assert client.check_hostname and client.minimum_version is ssl.TLSVersion.TLSv1_2
