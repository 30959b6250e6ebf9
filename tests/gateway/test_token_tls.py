"""The gateway link with the kiosk's key in a PKCS#11 token (SoftHSM) through pkcs11-provider."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from common.token import Token, TokenConfig
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeClient, MakeGateway
from tests.softhsm import token_identity

AYU = persona("ayu").nik


async def test_a_token_key_verifies_over_tls13(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    softhsm_token: TokenConfig,
    token_provider: Path,
    tmp_path: Path,
) -> None:
    gw = await make_gateway()
    issued = token_identity(certs.pki, softhsm_token, "KIOSK-A1", "perpus-a", tmp_path)
    assert b"PKCS#11 PROVIDER URI" in issued.key.read_bytes()  # no private key in any file
    client = make_client(gw, issued)
    status, body = await client.verify(AYU)
    assert (status, body["outcome"]) == (200, "FOUND")
    connector = client.session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    versions = {
        proto.transport.get_extra_info("ssl_object").version()
        for conns in connector._conns.values()
        for proto, _ in conns
        if proto.transport is not None
    }
    assert versions == {"TLSv1.3"}


async def test_a_destroyed_token_key_cannot_connect(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    softhsm_token: TokenConfig,
    token_provider: Path,
    tmp_path: Path,
) -> None:
    gw = await make_gateway()
    issued = token_identity(certs.pki, softhsm_token, "KIOSK-A1", "perpus-a", tmp_path)
    with Token.open(softhsm_token) as token:
        assert token.destroy_all() == 2
    with pytest.raises(Exception, match="token key named in"):
        make_client(gw, issued)
    ctx = certs.pki.client_context(None)  # and without it, no certificate: refused
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        with pytest.raises((aiohttp.ClientConnectionError, ssl.SSLError, ConnectionError)):
            async with http.post(f"{gw.url}/v1/verifications", json={}) as resp:
                await resp.read()
