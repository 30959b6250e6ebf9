"""Real TLS with a throwaway CA: who gets in, who is refused, and what the server sends."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess

import aiohttp
import pytest
import uvloop

from gateway.server import RunningGateway
from kiosk_sim.device_token import device_env
from kiosk_sim.pki import Issued
from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeClient, MakeGateway

AYU = persona("ayu").nik
HANDSHAKE_REFUSED = (aiohttp.ClientConnectionError, ssl.SSLError, ConnectionError)


async def test_runs_on_uvloop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)


async def test_valid_device_gets_an_answer(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    status, body = await make_client(gw, certs.devices["KIOSK-A1"]).verify(AYU)
    assert (status, body["outcome"]) == (200, "FOUND")


@pytest.mark.parametrize("which", ["none", "foreign", "expired", "not_yet_valid"])
async def test_handshake_refusals(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, which: str
) -> None:
    gw = await make_gateway()
    cert: Issued | None = {
        "none": None,
        "foreign": certs.foreign,
        "expired": certs.expired,
        "not_yet_valid": certs.not_yet_valid,
    }[which]
    with pytest.raises(HANDSHAKE_REFUSED):
        await make_client(gw, cert).verify(AYU)


async def test_foreign_admin_certificate_is_refused(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    with pytest.raises(HANDSHAKE_REFUSED):
        await make_client(gw, certs.foreign_admin).request("GET", "/admin/v1/devices")


async def test_server_certificate_cannot_be_used_as_a_client(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    server_as_client = Issued("gateway", certs.pki.server.cert, certs.pki.server.key, 0)
    with pytest.raises(HANDSHAKE_REFUSED):
        await make_client(gw, server_as_client).verify(AYU)


async def test_certificate_on_the_crl_is_refused(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    status, body = await make_client(gw, certs.revoked).verify(AYU)
    assert status == 403
    assert body["error"]["code"] == "DEVICE_DEACTIVATED"


async def test_crl_reload_picks_up_new_revocations(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    late = certs.pki.issue_device("KIOSK-A7", "perpus-a")
    kiosk = make_client(gw, late)
    assert (await kiosk.verify(AYU))[0] == 200
    certs.pki.revoke(late)
    gw.reload_crl()
    assert (await kiosk.verify(AYU))[0] == 403


async def test_device_without_a_known_institution_is_refused(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    status, body = await make_client(gw, certs.no_institution).verify(AYU)
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")


async def test_admin_revocation_and_reinstatement(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-A2"])
    admin = make_client(gw, certs.admin)
    assert (await kiosk.verify(AYU))[0] == 200
    status, body = await admin.request("POST", "/admin/v1/devices/KIOSK-A2/revoke")
    assert (status, body) == (200, {"device_id": "KIOSK-A2", "revoked": True})
    status, body = await kiosk.verify(AYU)
    assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")
    # The other kiosk of the same institution is not affected.
    assert (await make_client(gw, certs.devices["KIOSK-A1"]).verify(AYU))[0] == 200
    assert (await admin.request("GET", "/admin/v1/devices"))[1] == {"revoked": ["KIOSK-A2"]}
    await admin.request("POST", "/admin/v1/devices/KIOSK-A2/reinstate")
    assert (await kiosk.verify(AYU))[0] == 200


async def test_admin_endpoints_refuse_device_certificates(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    for method, path in [
        ("GET", "/admin/v1/devices"),
        ("POST", "/admin/v1/devices/KIOSK-A1/reinstate"),
        ("PUT", "/admin/v1/institutions/perpus-a/policy"),
        ("GET", "/admin/v1/usage"),
    ]:
        status, body = await kiosk.request(method, path, {"elements": ["nik"]})
        assert (status, body["error"]["code"]) == (403, "FORBIDDEN"), path


async def test_device_endpoints_refuse_admin_certificates(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    status, body = await make_client(gw, certs.admin).verify(AYU)
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")


async def test_health_needs_a_certificate_of_either_role(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    for cert in (certs.devices["KIOSK-B1"], certs.admin):
        status, body = await make_client(gw, cert).request("GET", "/v1/health")
        assert (status, body["status"]) == (200, "ok")


def _tls12_client(certs: Certs, cert: Issued) -> ssl.SSLContext:
    ctx = certs.pki.client_context(cert)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def test_tls_1_2_only_when_configured(make_gateway: MakeGateway, certs: Certs) -> None:
    strict = await make_gateway()

    def set_12(data: dict[str, object]) -> None:
        tls = data["tls"]
        assert isinstance(tls, dict)
        tls["min_version"] = "1.2"

    lenient = await make_gateway(mutate=set_12)
    ctx = _tls12_client(certs, certs.devices["KIOSK-B1"])
    loop = asyncio.get_running_loop()
    with pytest.raises(HANDSHAKE_REFUSED):
        await _handshake(loop, strict, ctx)
    version = await _handshake(loop, lenient, ctx)
    assert version == "TLSv1.2"


async def _handshake(
    loop: asyncio.AbstractEventLoop, gw: RunningGateway, ctx: ssl.SSLContext
) -> str | None:
    def run() -> str | None:
        with (
            socket.create_connection(("127.0.0.1", gw.port), 5) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if not tls.recv(1):
                raise ConnectionError("closed without an answer")
            return tls.version()

    return await loop.run_in_executor(None, run)


async def test_resumption_and_no_root_in_the_chain(make_gateway: MakeGateway, certs: Certs) -> None:
    gw = await make_gateway()
    ctx = certs.pki.client_context(certs.devices["KIOSK-B1"])
    loop = asyncio.get_running_loop()

    def two_connections() -> tuple[bool, bool]:
        session = None
        reused = []
        for _ in range(2):
            with (
                socket.create_connection(("127.0.0.1", gw.port), 5) as raw,
                ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls,
            ):
                tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while tls.recv(4096):
                    pass
                reused.append(bool(tls.session_reused))
                session = tls.session
        return reused[0], reused[1]

    first, second = await loop.run_in_executor(None, two_connections)
    assert (first, second) == (False, True)

    device = certs.devices["KIOSK-B1"]
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{gw.port}", "-showcerts"]
    command += ["-cert", str(device.cert), "-key", str(device.key), "-servername", "localhost"]
    shown = await loop.run_in_executor(
        None,
        lambda: (
            subprocess.run(
                command,
                input=b"",
                capture_output=True,
                timeout=20,
                env={**os.environ, **device_env()},  # the kiosk's key is in the devices token
            ).stdout
        ),
    )
    assert shown.count(b"-----BEGIN CERTIFICATE-----") == 1


@pytest.mark.parametrize(
    ("which", "alert"),
    [("none", "TLSV13_ALERT_CERTIFICATE_REQUIRED"), ("foreign", "TLSV1_ALERT_UNKNOWN_CA")],
)
async def test_refusals_end_with_a_tls_alert(
    make_gateway: MakeGateway, certs: Certs, which: str, alert: str
) -> None:
    gw = await make_gateway()
    ctx = certs.pki.client_context(None if which == "none" else certs.foreign)

    def run() -> str:
        with (
            socket.create_connection(("127.0.0.1", gw.port), 5) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                tls.recv(1)
            except ssl.SSLError as err:  # the alert, as the client's TLS reports it
                return str(err.reason)
            except OSError as err:
                return f"no alert: {type(err).__name__}"
            return "no alert: EOF"

    assert await asyncio.get_running_loop().run_in_executor(None, run) == alert
