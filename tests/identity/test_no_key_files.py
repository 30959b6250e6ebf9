"""No private key of a kiosk exists as a file: the kiosk keys of every test PKI live in the
session's SoftHSM devices token (kiosk_sim.device_token), their key files are URI PEMs."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common.token import Token
from kiosk_sim.device_token import device_token
from kiosk_sim.pki import make_pki
from tests.edge_agent import certs as link_certs
from tests.identity.key_files import kiosk_certificates, kiosk_key_files

URI_PEM = b"-----BEGIN PKCS#11 PROVIDER URI-----"


def test_every_kiosk_key_of_a_test_pki_is_in_the_devices_token(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with Token.open(device_token().token) as token:
        before = len(token.key_labels())
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    issued = [
        pki.issue_device("KIOSK-L1", "perpus-a"),
        pki.issue_device("KIOSK-L1", "perpus-a", not_before=past, not_after=past + dt.timedelta(1)),
        pki.issue_device("KIOSK-L1", "perpus-a", foreign=True),
    ]
    link = link_certs.make_pki(tmp_path / "link")
    for key_file in [i.key for i in issued] + [link.client.key]:
        assert key_file.read_bytes().startswith(URI_PEM)
    with Token.open(device_token().token) as token:
        assert len(token.key_labels()) == before + 4
    pki.client_context(issued[0])  # the provider loads it for TLS
    kiosks = kiosk_certificates([tmp_path])
    assert len(kiosks) == 4
    assert kiosk_key_files([tmp_path], kiosks) == []


def test_the_look_finds_a_kiosk_key_in_a_file() -> None:
    # in a folder of its own, gone after the test (the session's end looks at every tmp_path)
    with tempfile.TemporaryDirectory() as tmp:
        _finds_a_leaked_key(Path(tmp))


def _finds_a_leaked_key(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    key = ec.generate_private_key(ec.SECP256R1())
    pki.certify_device("KIOSK-BAD", "perpus-a", key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    leaked = tmp_path / "copied-off-the-sd-card.txt"
    leaked.write_bytes(b"notes\n" + pem)
    assert kiosk_key_files([tmp_path], kiosk_certificates([tmp_path])) == [leaked]


def test_no_kiosk_key_file_in_this_sessions_tmp_dirs(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # every test's tmp dir made so far in this session (the whole suite: the session's end
    # looks again, see tests/softhsm.py device_keys_in_softhsm)
    base = tmp_path_factory.getbasetemp()
    kiosks = kiosk_certificates([base])
    assert kiosks  # the tests above made some
    assert kiosk_key_files([base], kiosks) == []
