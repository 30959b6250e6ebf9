"""kiosk-fleet's CA commands: the CA made in SoftHSM, people's certificates with their roles,
revocation of a person, the broker ACL from the roles, bad input with clear messages."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from common.roles import Role, role_of_name
from common.token import TokenConfig
from fleet.ca.server import open_ca
from fleet.cli import main
from fleet.config import load_config
from fleet.store.base import DeviceEntry
from fleet.store.sqlite import SqliteStore


def _fleet_toml(tmp_path: Path, token: TokenConfig) -> Path:
    (tmp_path / "x.pem").write_text("")
    text = f"""
[admin]
name = "ca-admin"

[broker]
host = "127.0.0.1"
ca_file = "x.pem"
cert_file = "x.pem"
key_file = "x.pem"

[store]
path = "fleet.sqlite3"

[ca]
cert_file = "ca/device-ca.pem"
key_label = "device-ca"
admin_cert_file = "ca/admin-ca.pem"
admin_key_label = "admin-ca"
crl_file = "ca/device-crl.pem"
admin_crl_file = "ca/admin-crl.pem"
days = 2

[ca.token]
module = "{token.module}"
label = "{token.label}"
pin_file = "{token.pin_file}"
"""
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def _run(config: Path, *args: str) -> tuple[int, dict[str, object]]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", str(config), *args, "--json"])
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else {})


def test_the_ca_lives_in_softhsm_and_issues_people(
    tmp_path: Path, softhsm_token: TokenConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _fleet_toml(tmp_path, softhsm_token)
    assert _run(config, "ca", "init")[0] == 0
    device_ca = x509.load_pem_x509_certificate((tmp_path / "ca/device-ca.pem").read_bytes())
    assert device_ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not (tmp_path / "ca/device-ca.key").exists()  # the key is in the token only
    assert _run(config, "ca", "init")[0] == 2  # once
    assert "exists" in capsys.readouterr().err

    phrase = tmp_path / "phrase"
    phrase.write_text("a long enough passphrase\n")
    code, tech = _run(
        config,
        "technician",
        "add",
        "tech-1",
        "--out",
        str(tmp_path / "p"),
        "--passphrase-file",
        str(phrase),
    )
    assert code == 0
    cert = x509.load_pem_x509_certificate(Path(str(tech["cert"])).read_bytes())
    assert role_of_name(cert.subject, admin_ca=True) is Role.TECHNICIAN
    key = serialization.load_pem_private_key(
        Path(str(tech["key"])).read_bytes(), password=b"a long enough passphrase"
    )
    assert key.public_key() == cert.public_key()
    with pytest.raises(TypeError):  # encrypted: no key without the passphrase
        serialization.load_pem_private_key(Path(str(tech["key"])).read_bytes(), password=None)

    code, viewer = _run(
        config,
        "admin",
        "add",
        "viewer-1",
        "--read-only",
        "--out",
        str(tmp_path / "p"),
        "--passphrase-file",
        str(phrase),
    )
    assert code == 0 and viewer["role"] == "read-only-admin"
    # one role per name while its certificate lives
    code, _ = _run(
        config,
        "admin",
        "add",
        "tech-1",
        "--out",
        str(tmp_path / "q"),
        "--passphrase-file",
        str(phrase),
    )
    assert code == 2
    assert "already holds a live technician certificate" in capsys.readouterr().err

    acl = tmp_path / "acl-admins"
    assert _run(config, "ca", "broker-acl", str(acl))[0] == 0
    text = acl.read_text()
    assert "user viewer-1" in text and "user tech-1" not in text

    code, out = _run(config, "revoke", "--person", "tech-1")
    assert code == 0 and out["revoked"] == [tech["serial"]]
    crl = x509.load_pem_x509_crl((tmp_path / "ca/admin-crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_a_short_passphrase_and_a_missing_file_are_refused(
    tmp_path: Path, softhsm_token: TokenConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _fleet_toml(tmp_path, softhsm_token)
    assert _run(config, "ca", "init")[0] == 0
    short = tmp_path / "short"
    short.write_text("short\n")
    out = str(tmp_path / "p")
    assert (
        _run(config, "technician", "add", "t", "--out", out, "--passphrase-file", str(short))[0]
        == 2
    )
    assert "shorter than 12" in capsys.readouterr().err
    assert _run(config, "technician", "add", "t", "--out", out)[0] == 2
    assert "--passphrase-file" in capsys.readouterr().err


def test_a_device_revocation_from_the_cli_lists_it_in_the_crl(
    tmp_path: Path, softhsm_token: TokenConfig
) -> None:
    config_path = _fleet_toml(tmp_path, softhsm_token)
    assert _run(config_path, "ca", "init")[0] == 0
    config = load_config(config_path)
    store = SqliteStore(config.store.path)
    ca = open_ca(config)
    try:
        from cryptography.hazmat.primitives.asymmetric import ec

        from fleet.ca.issuer import hex_serial

        store.put_device(DeviceEntry("KIOSK-9", "perpus-a", "33", serial="SN-9"))
        entry = store.device("KIOSK-9")
        assert entry is not None
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, "KIOSK-9"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "perpus-a"),
                    ]
                )
            )
            .sign(
                key,
                __import__(
                    "cryptography.hazmat.primitives.hashes"
                ).hazmat.primitives.hashes.SHA256(),
            )
        )
        cert = ca.issuer._issue(store, csr, entry)
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert life <= dt.timedelta(days=2, minutes=6)  # [ca] days = 2
        assert cert.verify_directly_issued_by(ca.issuer.ca.cert) is None  # signed in SoftHSM
    finally:
        ca.close()
        store.close()
    code, out = _run(config_path, "revoke", "KIOSK-9", "--reason", "decommission")
    assert code == 0 and out["revoked"] == [hex_serial(cert)]
    crl = x509.load_pem_x509_crl((tmp_path / "ca/device-crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    # Another process (a fresh CA) issues its next CRL after the published one, even within the
    # same second: the gateway and mosquitto keep the newest, and refuse one as old.
    store = SqliteStore(config.store.path)
    ca = open_ca(config)
    try:
        from fleet.ca.revocation import current_crls

        device, _ = current_crls(store, ca)
    finally:
        ca.close()
        store.close()
    assert device.last_update_utc > crl.last_update_utc
