"""Fixtures: a throwaway PKI whose device CA is the fleet's CA (software key), a SQLite fleet
store with registered kiosks, and the EST listener on loopback."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from common.token import TokenKey, write_uri_pem
from fleet.ca.authority import CertificateAuthority
from fleet.ca.est import EstApi, est_context
from fleet.ca.issuer import Issuer
from fleet.ca.keys import load_certificate, load_pem_key
from fleet.ca.settings import EstSettings
from fleet.store.base import DeviceEntry, FleetStore
from fleet.store.sqlite import SqliteStore
from kiosk_sim.device_token import device_token
from kiosk_sim.pki import Issued, Pki, make_pki

T = TypeVar("T")
KIOSK = "KIOSK-EST-1"
SERIAL = "SN-0001"
OTHER_KIOSK = "KIOSK-EST-2"
OTHER_SERIAL = "SN-0002"
INSTITUTION = "perpus-a"


@dataclass
class Wall:
    """A settable wall clock."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Est:
    """A running EST listener and what the tests reach into."""

    url: str
    pki: Pki
    store: FleetStore
    issuer: Issuer
    api: EstApi
    wall: Wall
    technician: Issued
    folder: Path
    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)

    def context(self, issued: Issued | None = None) -> ssl.SSLContext:
        """A client context trusting the EST server, presenting `issued` if given."""
        return self.pki.client_context(issued)

    async def post(
        self,
        path: str,
        body: bytes,
        *,
        auth: tuple[str, str] | None = None,
        client: Issued | None = None,
        content_type: str = "application/pkcs10",
    ) -> tuple[int, bytes, dict[str, str]]:
        """POST to the listener; (status, body, headers)."""
        headers = {"Content-Type": content_type}
        if auth is not None:
            headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            )
        connector = aiohttp.TCPConnector(ssl=self.context(client))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(self.url + path, data=body, headers=headers) as resp,
        ):
            return resp.status, await resp.read(), dict(resp.headers)

    async def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        """GET from the listener."""
        connector = aiohttp.TCPConnector(ssl=self.context())
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(self.url + path) as resp,
        ):
            return resp.status, await resp.read(), dict(resp.headers)

    async def token(self, serial: str = SERIAL, institution: str = INSTITUTION) -> str:
        """A fresh enrolment token through the technicians' route."""
        status, body, _ = await self.post(
            "/enrol/v1/tokens",
            f'{{"serial": "{serial}", "institution": "{institution}"}}'.encode(),
            client=self.technician,
            content_type="application/json",
        )
        assert status == 201, body
        import json

        return str(json.loads(body)["token"])


def csr(
    cn: str = KIOSK,
    org: str = INSTITUTION,
    key: Any = None,
    extensions: list[x509.ExtensionType] = (),  # type: ignore[assignment]
) -> tuple[bytes, Any]:
    """A base64 DER CSR (RFC 7030 body) and its key (made in the devices token unless given)."""
    key = key or device_token().generate(cn)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    request = builder.sign(key, hashes.SHA256())
    return base64.encodebytes(request.public_bytes(serialization.Encoding.DER)), key


def certs_of(body: bytes) -> list[x509.Certificate]:
    """The certificates of an EST certs-only answer."""
    return pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))


def write_pair(folder: Path, name: str, cert: x509.Certificate, key: Any) -> Issued:
    """A certificate and its key as files (for a TLS client): a token key's URI PEM, or a
    person's PEM key."""
    c, k = folder / f"{name}.pem", folder / f"{name}.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if isinstance(key, TokenKey):
        write_uri_pem(k, key.uri)
        return Issued(name, c, k, cert.serial_number)
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(name, c, k, cert.serial_number)


async def start_est(
    folder: Path, *, key_origin: str = "any", days: float = 30.0
) -> tuple[Est, Callable[[], Any]]:
    """The EST listener over a new store; (Est, async close)."""
    pki = make_pki(folder / "pki")
    wall = Wall()
    import time

    wall.now = time.time()
    ca = CertificateAuthority(
        load_certificate(pki.device_ca.cert, "device CA"), load_pem_key(pki.device_ca.key, "ca")
    )
    issuer = Issuer(ca, days=days, key_origin=key_origin, wall=wall)
    store = SqliteStore(folder / "fleet.sqlite3")
    for device, serial in ((KIOSK, SERIAL), (OTHER_KIOSK, OTHER_SERIAL)):
        store.put_device(DeviceEntry(device, INSTITUTION, "33", serial=serial))

    async def call(fn: Callable[[FleetStore], T]) -> T:
        return await asyncio.to_thread(fn, store)

    settings = EstSettings("127.0.0.1", 0, pki.server.cert, pki.server.key)
    admin_ca = load_certificate(pki.admin_ca.cert, "admin CA")
    ctx = est_context(settings, [ca.cert, admin_ca])
    api = EstApi(issuer, call, admin_ca=admin_ca)
    from aiohttp import web

    app = web.Application()
    api.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    technician = _person(pki, folder, "tech-1", "technician")
    est = Est(f"https://localhost:{port}", pki, store, issuer, api, wall, technician, folder)

    async def close() -> None:
        await runner.cleanup()
        store.close()

    return est, close


def _person(pki: Pki, folder: Path, name: str, role: str) -> Issued:
    """An admin-CA certificate with OU = role."""
    from kiosk_sim.pki import load_pki

    loaded = load_pki(pki.directory)
    ca_key = load_pem_key(loaded.admin_ca.key, "admin ca")
    ca_cert = load_certificate(loaded.admin_ca.cert, "admin ca")
    from common.roles import Role
    from fleet.ca.authority import subject

    authority = CertificateAuthority(ca_cert, ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    import datetime as dt

    cert = authority.issue(
        key.public_key(), subject(name, Role(role)), now=dt.datetime.now(dt.UTC), days=30
    )
    return write_pair(folder, name, cert, key)


@pytest.fixture
async def est(tmp_path: Path) -> AsyncIterator[Est]:
    """The EST listener with two registered kiosks and a technician."""
    running, close = await start_est(tmp_path)
    yield running
    await close()
