"""The throwaway platform PKI that tests, the simulated stack and the kiosk agent share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kiosk_sim.pki import load_pki, make_pki


def test_make_issue_revoke_reload(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    device = pki.issue_device("KIOSK-9", "perpus-a")
    cert = x509.load_pem_x509_certificate(device.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(pki.device_ca.cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "KIOSK-9"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "perpus-a"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # the kiosk's key is in the devices token: its key file is the URI PEM naming it
    assert device.key.read_bytes().startswith(b"-----BEGIN PKCS#11 PROVIDER URI-----")
    # A second certificate for the same device does not overwrite the first.
    again = pki.issue_device("KIOSK-9", "perpus-a")
    assert again.cert != device.cert and device.cert.exists()

    reopened = load_pki(tmp_path / "pki")
    reopened.revoke(device)
    crl = x509.load_pem_x509_crl(reopened.device_crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(device.serial) is not None
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]


def test_validity_and_foreign_issuer(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    expired = pki.issue_device("K", "i", not_before=past, not_after=past + dt.timedelta(days=1))
    cert = x509.load_pem_x509_certificate(expired.cert.read_bytes())
    assert cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
    foreign = pki.issue_admin("root", foreign=True)
    issuer = x509.load_pem_x509_certificate(foreign.cert.read_bytes()).issuer
    assert issuer == x509.load_pem_x509_certificate(pki.foreign_ca.cert.read_bytes()).subject
    server = x509.load_pem_x509_certificate(pki.server.cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
