"""A throwaway PKI for the link tests: a device CA, a server certificate, kiosk client certs
(their keys in the devices token: kiosk_sim.device_token)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kiosk_sim.device_token import device_token


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Ca:
    """A CA: its PEM file, certificate and key."""

    path: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(folder: Path, name: str) -> Ca:
    """A self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Ca(path, cert, key)


def issue(folder: Path, ca: Ca, cn: str, *, server: bool) -> Pair:
    """A leaf certificate: a server for localhost/127.0.0.1 (a PEM key file), or a kiosk named
    `cn` (its key in the devices token, the key file a URI PEM naming it)."""
    pair = Pair(folder / f"{cn}.crt", folder / f"{cn}.key")
    key = ec.generate_private_key(ec.SECP256R1()) if server else None
    public = key.public_key() if key is not None else device_token().new_key(cn, pair.key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca.key, hashes.SHA256())
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        pair.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return pair


@dataclass(frozen=True)
class Pki:
    """Everything a link test needs."""

    ca: Ca
    server: Pair
    client: Pair
    foreign_ca: Ca
    foreign_server: Pair
    device_id: str

    def server_context(self, *, foreign: bool = False) -> ssl.SSLContext:
        """A gateway-like server context: TLS 1.2+, client certificate required."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = ssl.CERT_REQUIRED
        pair = self.foreign_server if foreign else self.server
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
        ctx.load_verify_locations(cafile=str(self.ca.path))
        ctx.options |= ssl.OP_NO_TICKET  # stateful TLS 1.3 tickets, as the gateway does
        ctx.num_tickets = 1
        return ctx


def make_pki(folder: Path, device_id: str = "kiosk-test-01") -> Pki:
    """A device CA with a server and one kiosk; a foreign CA with its own server."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca(folder, "device-ca")
    foreign = make_ca(folder, "foreign-ca")
    return Pki(
        ca=ca,
        server=issue(folder, ca, "gateway", server=True),
        client=issue(folder, ca, device_id, server=False),
        foreign_ca=foreign,
        foreign_server=issue(folder, foreign, "impostor", server=True),
        device_id=device_id,
    )
