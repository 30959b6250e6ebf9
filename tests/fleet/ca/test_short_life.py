"""A short certificate life (the demo's): backdated a tenth of it, not the 5 minutes a long one
gets, so that two thirds of its validity still lie ahead of the kiosk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.ca.authority import CertificateAuthority
from fleet.ca.keys import load_certificate, load_pem_key
from kiosk_sim.pki import make_pki

NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KIOSK-S1")])


def test_short_and_long_lives_are_backdated_in_proportion(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    ca = CertificateAuthority(
        load_certificate(pki.device_ca.cert, "device CA"), load_pem_key(pki.device_ca.key, "ca")
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    short = ca.issue(public, NAME, now=now, days=45 / 86400)
    assert dt.timedelta(seconds=4) <= now - short.not_valid_before_utc <= dt.timedelta(seconds=5)
    assert short.not_valid_after_utc - now == dt.timedelta(seconds=45)
    long = ca.issue(public, NAME, now=now, days=30)
    assert now - long.not_valid_before_utc == dt.timedelta(minutes=5)
