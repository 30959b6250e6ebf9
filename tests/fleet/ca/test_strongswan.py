"""Interop: strongSwan's `pki --est` (an EST client nobody here wrote) enrols against the fleet
service's EST listener with a technician's token, and re-enrols with its certificate."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.fleet.ca.conftest import INSTITUTION, KIOSK, SERIAL, Est

pytestmark = pytest.mark.skipif(
    shutil.which("pki") is None, reason="strongswan-pki: run scripts/install-debian-packages.sh"
)


def _pki(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["pki", *args], input=stdin, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout


async def test_strongswan_pki_enrols_and_reenrols(est: Est, tmp_path: Path) -> None:
    token = await est.token()
    key = tmp_path / "kiosk.key"
    key.write_bytes(await asyncio.to_thread(_pki, "--gen", "--type", "ecdsa", "--size", "256"))
    dn = f"C=ID, O={INSTITUTION}, CN={KIOSK}"
    req = await asyncio.to_thread(_pki, "--req", "--in", str(key), "--type", "ecdsa", "--dn", dn)
    url = est.url  # strongSwan appends /.well-known/est/simpleenroll
    cacerts = ["--cacert", str(est.pki.server_ca.cert), "--cacert", str(est.pki.device_ca.cert)]
    out = await asyncio.to_thread(
        _pki,
        "--est",
        "--url",
        url,
        *cacerts,
        "--userpass",
        f"{SERIAL}:{token}",
        "--outform",
        "pem",
        stdin=req,
    )
    cert = x509.load_pem_x509_certificate(out)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == KIOSK
    assert cert.issuer == est.issuer.ca.cert.subject
    # the token is used: strongSwan is refused the second time
    again = await asyncio.to_thread(
        subprocess.run,
        ["pki", "--est", "--url", url, *cacerts, "--userpass", f"{SERIAL}:{token}"],
        input=req,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert again.returncode != 0
    assert b"401" in again.stderr, again.stderr[-1000:]
    # re-enrolment: a new key, the old certificate and key for TLS client auth
    old_cert = tmp_path / "kiosk.pem"
    old_cert.write_bytes(out)
    new_key = tmp_path / "kiosk2.key"
    new_key.write_bytes(await asyncio.to_thread(_pki, "--gen", "--type", "ecdsa", "--size", "256"))
    req2 = await asyncio.to_thread(
        _pki, "--req", "--in", str(new_key), "--type", "ecdsa", "--dn", dn
    )
    out2 = await asyncio.to_thread(
        _pki,
        "--est",
        "--url",
        url,
        *cacerts,
        "--cert",
        str(old_cert),
        "--key",
        str(key),
        "--outform",
        "pem",
        stdin=req2,
    )
    renewed = x509.load_pem_x509_certificate(out2)
    assert renewed.subject == cert.subject
    assert renewed.serial_number != cert.serial_number
