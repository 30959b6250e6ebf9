"""A throwaway platform PKI for tests and simulations. Never for production.

Four certificate authorities, EC P-256 keys, all in one directory:

- the server CA, which signs the gateway's server certificate (kiosks and admins trust it);
- the device CA, which signs kiosk client certificates (CN = device id, O = institution id);
- the admin CA, which signs Dukcapil admin client certificates (CN = admin name);
- a foreign CA that nobody trusts, for refusal tests.

`make_pki(dir)` creates a fresh one; `load_pki(dir)` reopens it to issue more certificates.
Certificates for refusal tests (expired, not yet valid, foreign, revoked) come from the same
`issue_*` methods with other validity dates or issuer, and `revoke()` adds to the device CA's CRL.

A kiosk's key is never a file: `issue_device` makes it in the process's SoftHSM devices token
(kiosk_sim.device_token) and writes, as the `Issued.key` file, the "PKCS#11 PROVIDER URI" PEM
naming it. The keys of CAs, servers and admins are PEM files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.tls import client_context
from kiosk_sim.device_token import device_token

SERVER_CA = "server-ca"
DEVICE_CA = "device-ca"
ADMIN_CA = "admin-ca"
FOREIGN_CA = "foreign-ca"
_CA_NAMES = {
    SERVER_CA: "Platform Bersama Server CA (test)",
    DEVICE_CA: "Platform Bersama Device CA (test)",
    ADMIN_CA: "Platform Bersama Admin CA (test)",
    FOREIGN_CA: "Foreign CA (test)",
}
_STEM = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its key's PEM file (a kiosk's: the URI PEM of its token key)."""

    name: str
    cert: Path
    key: Path
    serial: int


@dataclass(slots=True)
class _Ca:
    issued: Issued
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


class Pki:
    """A platform PKI on disk; issue certificates with the `issue_*` methods."""

    def __init__(self, directory: Path, cas: dict[str, _Ca]) -> None:
        self.directory = directory
        self._cas = cas

    @property
    def server_ca(self) -> Issued:
        """The CA that kiosks and admins trust for the gateway's server certificate."""
        return self._cas[SERVER_CA].issued

    @property
    def device_ca(self) -> Issued:
        """The CA of kiosk client certificates."""
        return self._cas[DEVICE_CA].issued

    @property
    def admin_ca(self) -> Issued:
        """The CA of admin client certificates."""
        return self._cas[ADMIN_CA].issued

    @property
    def foreign_ca(self) -> Issued:
        """A CA the gateway does not trust."""
        return self._cas[FOREIGN_CA].issued

    @property
    def server(self) -> Issued:
        """The gateway's server certificate for localhost and 127.0.0.1 (made by make_pki)."""
        return Issued(
            "gateway",
            self.directory / "server.pem",
            self.directory / "server.key",
            _serial_of(self.directory / "server.pem"),
        )

    @property
    def device_crl(self) -> Path:
        """The device CA's certificate revocation list (PEM), updated by `revoke()`."""
        return self.directory / "device-crl.pem"

    def issue_device(
        self,
        device_id: str,
        institution: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        foreign: bool = False,
    ) -> Issued:
        """A kiosk client certificate (CN = device id, O = institution id), its key in the
        devices token: `key` is the URI PEM naming it."""
        subject = _device_subject(device_id, institution)
        ca = FOREIGN_CA if foreign else DEVICE_CA
        return self._issue(
            "devices",
            device_id,
            subject,
            ca,
            ExtendedKeyUsageOID.CLIENT_AUTH,
            not_before,
            not_after,
            in_token=True,
        )

    def certify_device(
        self,
        device_id: str,
        institution: str,
        public_key: ec.EllipticCurvePublicKey,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Path:
        """A kiosk certificate for a key kept elsewhere (a token): the certificate file only."""
        subject = _device_subject(device_id, institution)
        issued = self._issue(
            "devices",
            device_id,
            subject,
            DEVICE_CA,
            ExtendedKeyUsageOID.CLIENT_AUTH,
            not_before,
            not_after,
            public_key=public_key,
        )
        return issued.cert

    def issue_admin(
        self,
        name: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        foreign: bool = False,
    ) -> Issued:
        """A Dukcapil admin client certificate: CN = admin name."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "admin"),
            ]
        )
        ca = FOREIGN_CA if foreign else ADMIN_CA
        return self._issue(
            "admins", name, subject, ca, ExtendedKeyUsageOID.CLIENT_AUTH, not_before, not_after
        )

    def issue_server(
        self, name: str, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    ) -> Issued:
        """A server certificate from the server CA for the given DNS names and IP addresses."""
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return self._issue(
            "servers", name, subject, SERVER_CA, ExtendedKeyUsageOID.SERVER_AUTH, None, None, hosts
        )

    def revoke(self, issued: Issued) -> None:
        """Add a device certificate to the device CA's CRL and rewrite the CRL file."""
        revoked = {r.serial_number for r in _load_crl(self.device_crl)} | {issued.serial}
        _write_crl(self._cas[DEVICE_CA], revoked, self.device_crl)

    def client_context(self, issued: Issued | None) -> ssl.SSLContext:
        """A client TLS context trusting the server CA, presenting `issued` if given."""
        if issued is None:
            return client_context(self.server_ca.cert)
        return client_context(self.server_ca.cert, issued.cert, issued.key)

    def _issue(
        self,
        folder: str,
        name: str,
        subject: x509.Name,
        ca_name: str,
        usage: x509.ObjectIdentifier,
        not_before: dt.datetime | None,
        not_after: dt.datetime | None,
        hosts: tuple[str, ...] = (),
        public_key: ec.EllipticCurvePublicKey | None = None,
        *,
        in_token: bool = False,
    ) -> Issued:
        if not _STEM.match(name):
            raise ValueError("certificate names are 1 to 64 of A-Z a-z 0-9 . _ -")
        ca = self._cas[ca_name]
        now = _now()
        out = self.directory / folder
        out.mkdir(exist_ok=True)
        stem = _free_stem(out, name)
        key_file = out / f"{stem}.key"
        key = None
        if in_token:
            public_key = device_token().new_key(name, key_file)
        elif public_key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            public_key = key.public_key()
        public = public_key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - _DAY)
            .not_valid_after(not_after or now + 365 * _DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                critical=False,
            )
        )
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False
            )
        cert = builder.sign(ca.key, hashes.SHA256())
        issued = Issued(name, out / f"{stem}.pem", key_file, cert.serial_number)
        if key is None:  # the key is kept in a token: no key file
            issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        else:
            _write_pair(issued, cert, key)
        return issued


def make_pki(directory: Path, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Pki:
    """Create a fresh PKI in `directory`: four CAs, an empty device CRL, a gateway server cert."""
    directory.mkdir(parents=True, exist_ok=True)
    cas = {name: _make_ca(directory, name) for name in _CA_NAMES}
    pki = Pki(directory, cas)
    server = pki.issue_server("gateway", hosts)
    server.cert.replace(directory / "server.pem")
    server.key.replace(directory / "server.key")
    _write_crl(cas[DEVICE_CA], set(), pki.device_crl)
    return pki


def load_pki(directory: Path) -> Pki:
    """Reopen a PKI made by make_pki to issue more certificates."""
    cas: dict[str, _Ca] = {}
    for name in _CA_NAMES:
        issued = Issued(
            name,
            directory / f"{name}.pem",
            directory / f"{name}.key",
            _serial_of(directory / f"{name}.pem"),
        )
        key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{issued.key}: not an EC private key")
        cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
        cas[name] = _Ca(issued, key, cert)
    return Pki(directory, cas)


def _make_ca(directory: Path, name: str) -> _Ca:
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAMES[name]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Platform Bersama (test)"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 3650 * _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = Issued(name, directory / f"{name}.pem", directory / f"{name}.key", cert.serial_number)
    _write_pair(issued, cert, key)
    return _Ca(issued, key, cert)


def _leaf_key_usage() -> x509.KeyUsage:
    # digital_signature only
    return x509.KeyUsage(True, False, False, False, False, False, False, False, False)


def _device_subject(device_id: str, institution: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, device_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, institution),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "kiosk"),
        ]
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write_pair(issued: Issued, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(issued.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _write_crl(ca: _Ca, serials: set[int], path: Path) -> None:
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + 30 * _DAY)
    )
    for serial in sorted(serials):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(ca.key, hashes.SHA256())
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(path.read_bytes())


def _serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def _free_stem(folder: Path, name: str) -> str:
    stem, n = name, 1
    while (folder / f"{stem}.pem").exists():
        n += 1
        stem = f"{name}-{n}"
    return stem


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
