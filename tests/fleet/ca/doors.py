"""The whole revocation path on loopback: a fresh PKI whose device and admin CAs are the fleet's,
a real mosquitto (its crlfile the fleet's, its pid in a file), the real gateway (CRL files of
its own), the fleet service with its EST listener; helpers that knock at each door."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from common.roles import Role
from fleet.ca.authority import CertificateAuthority, subject
from fleet.ca.keys import load_certificate, load_pem_key
from fleet.config import FleetConfig
from fleet.service.process import FleetService
from fleet.store.base import DeviceEntry
from gateway.config import parse_config as gateway_config
from gateway.server import RunningGateway, start_gateway
from kiosk_sim.broker import ADMIN_CN, MosquittoBroker
from kiosk_sim.pki import Issued, Pki, make_pki
from tests.fleet.ca.conftest import INSTITUTION, KIOSK, SERIAL, certs_of, csr, write_pair
from tests.fleet.conftest import gateway_data
from tests.fleet.service.helpers import service_config, start_service
from tests.mqtt.fixtures import Certs

MQTT_CONNECT = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0])


@dataclass
class Doors:
    """The running stack of a revocation test."""

    pki: Pki
    broker: MosquittoBroker
    gateway: RunningGateway
    service: FleetService
    config: FleetConfig
    technician: Issued
    folder: Path

    @property
    def est_url(self) -> str:
        """The EST listener."""
        assert self.service.est is not None
        return f"https://localhost:{self.service.est.port}"

    async def enrol(self, device: str = KIOSK, serial: str = SERIAL) -> Issued:
        """A kiosk enrolled through EST (a technician's token, a new key): its files."""
        ctx = self.pki.client_context(self.technician)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
            body = json.dumps({"serial": serial, "institution": INSTITUTION})
            async with s.post(self.est_url + "/enrol/v1/tokens", data=body) as r:
                assert r.status == 201, await r.text()
                token = (await r.json())["token"]
        request, key = csr(device)
        ctx = self.pki.client_context(None)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{serial}:{token}".encode()).decode()}
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s,
            s.post(self.est_url + "/.well-known/est/simpleenroll", data=request, headers=auth) as r,
        ):
            assert r.status == 200, await r.text()
            (cert,) = certs_of(await r.read())
        return write_pair(self.folder, device, cert, key)


def mqtt_door(port: int, ctx: ssl.SSLContext) -> str:
    """ "open" when mosquitto answers a CONNECT with a CONNACK, else why not."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(MQTT_CONNECT)
            answer = tls.recv(4)
            return "open" if answer[:1] == b"\x20" else f"closed {answer!r}"
    except (ssl.SSLError, OSError) as err:
        return f"refused: {err}"


async def gateway_door(url: str, ctx: ssl.SSLContext) -> str:
    """ "open" when the gateway answers GET /v1/health on a new connection, else why not."""
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, force_close=True)) as s,
            s.get(url + "/v1/health") as r,
        ):
            return "open" if r.status == 200 else f"HTTP {r.status}"
    except (aiohttp.ClientError, ssl.SSLError, OSError) as err:
        return f"refused: {err}"


def _empty_admin_crl(pki: Pki, path: Path) -> None:
    ca = CertificateAuthority(
        load_certificate(pki.admin_ca.cert, "admin CA"), load_pem_key(pki.admin_ca.key, "admin")
    )
    crl = ca.crl([], now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), days=7, number=1)
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def _technician(pki: Pki, folder: Path) -> Issued:
    ca = CertificateAuthority(
        load_certificate(pki.admin_ca.cert, "admin CA"), load_pem_key(pki.admin_ca.key, "admin")
    )
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue(
        key.public_key(), subject("tech-1", Role.TECHNICIAN), now=dt.datetime.now(dt.UTC), days=1
    )
    return write_pair(folder, "tech-1", cert, key)


@contextlib.asynccontextmanager
async def doors(folder: Path) -> AsyncIterator[Doors]:
    """Start the stack; stop it after."""
    pki = make_pki(folder / "pki")
    admin_crl = folder / "admin-crl.pem"
    _empty_admin_crl(pki, admin_crl)
    gw_device_crl, gw_admin_crl = folder / "gw-device-crl.pem", folder / "gw-admin-crl.pem"
    gw_device_crl.write_bytes(pki.device_crl.read_bytes())
    gw_admin_crl.write_bytes(admin_crl.read_bytes())
    certs = Certs(pki, {}, pki.issue_admin(ADMIN_CN), folder / "unused.pub")
    data = gateway_data(folder, certs)
    data["tls"] |= {"device_crl": str(gw_device_crl), "admin_crl": str(gw_admin_crl)}
    gateway = await start_gateway(gateway_config(data, folder))
    broker = MosquittoBroker(folder / "broker", pki)
    await asyncio.to_thread(broker.start)
    pid_file = folder / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")
    config = service_config(
        folder,
        broker,
        certs,
        gateway={"url": gateway.url},
        ca={
            "cert_file": str(pki.device_ca.cert),
            "key_file": str(pki.device_ca.key),
            "admin_cert_file": str(pki.admin_ca.cert),
            "admin_key_file": str(pki.admin_ca.key),
            "crl_file": str(pki.device_crl),
            "admin_crl_file": str(admin_crl),
            "broker_pid_file": str(pid_file),
        },
        est={
            "listen": "127.0.0.1:0",
            "cert_file": str(pki.server.cert),
            "key_file": str(pki.server.key),
        },
    )
    service = await start_service(config)
    assert service.store is not None
    service.store.put_device(DeviceEntry(KIOSK, INSTITUTION, "33", serial=SERIAL))
    try:
        yield Doors(pki, broker, gateway, service, config, _technician(pki, folder), folder)
    finally:
        await service.stop()
        await asyncio.to_thread(broker.stop)
        await gateway.close()


__all__ = ["Doors", "doors", "gateway_door", "mqtt_door", "x509"]
