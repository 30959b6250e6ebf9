"""Serving the dashboard: loopback only without TLS (loopback Host names only), any other
address only behind admin mTLS with the certificate's role checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.token import write_uri_pem
from fleet.dashboard import DashboardRunner, DashboardTls, serve_dashboard
from fleet.dashboard.serve import is_loopback
from fleet.errors import FleetError
from fleet.store.base import FleetStore
from kiosk_sim.device_token import device_token
from kiosk_sim.pki import Issued, Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def behind_mtls(store: FleetStore, pki: Pki) -> AsyncIterator[DashboardRunner]:
    tls = DashboardTls(pki.server.cert, pki.server.key, pki.admin_ca.cert)
    running = await serve_dashboard(store, ("127.0.0.1", 0), tls)
    yield running
    await running.close()


def _wrong_role(pki: Pki, folder: Path) -> Issued:
    """A certificate of the admin CA whose OU says it is a kiosk's (its key in the devices token,
    as a kiosk's is)."""
    ca_key = serialization.load_pem_private_key(pki.admin_ca.key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(pki.admin_ca.cert.read_bytes())
    key = device_token().generate("wrong-role")
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "KIOSK-SIM-0001"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "kiosk"),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    issued = Issued("wrong-role", folder / "wrong.pem", folder / "wrong.key", cert.serial_number)
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_uri_pem(issued.key, key.uri)
    return issued


async def _get(url: str, pki: Pki, who: Issued | None) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, ssl=pki.client_context(who)) as answer,
    ):
        return answer.status, await answer.text()


async def test_an_admin_certificate_opens_the_dashboard(
    behind_mtls: DashboardRunner, pki: Pki
) -> None:
    status, html = await _get(behind_mtls.url, pki, pki.issue_admin("admin-jabar-01"))
    assert status == 200
    assert "Masuk sebagai" in html and "admin-jabar-01" in html


async def test_no_certificate_or_a_kiosk_certificate_is_refused_by_tls(
    behind_mtls: DashboardRunner, pki: Pki
) -> None:
    for who in (None, pki.issue_device("KIOSK-SIM-0001", "perpus-bdg")):
        with pytest.raises(aiohttp.ClientError):
            await _get(behind_mtls.url, pki, who)


async def test_a_certificate_of_the_admin_ca_without_the_admin_role_is_refused(
    behind_mtls: DashboardRunner, pki: Pki, tmp_path: Path
) -> None:
    status, html = await _get(behind_mtls.url, pki, _wrong_role(pki, tmp_path))
    assert status == 403
    assert "bukan sertifikat admin" in html
    assert "KIOSK-SIM-0001" not in html


async def test_loopback_without_tls_answers_only_loopback_host_names(store: FleetStore) -> None:
    running = await serve_dashboard(store, ("127.0.0.1", 0), None)
    try:
        assert running.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session:
            async with session.get(running.url) as answer:
                assert answer.status == 200
                assert "Hanya baca" in await answer.text()
            rebound = {"Host": f"dashboard.example:{running.port}"}
            async with session.get(running.url, headers=rebound) as answer:
                assert answer.status == 421
    finally:
        await running.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "dashboard.example"])
async def test_another_address_without_mtls_is_refused(store: FleetStore, host: str) -> None:
    with pytest.raises(FleetError, match="only behind admin mTLS"):
        await serve_dashboard(store, (host, 0), None)


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org"))


async def test_unreadable_tls_files_are_a_fleet_error(store: FleetStore, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(FleetError, match="dashboard TLS"):
        await serve_dashboard(store, ("127.0.0.1", 0), DashboardTls(missing, missing, missing))
