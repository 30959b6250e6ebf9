"""A certificate authority that signs through an `ec.EllipticCurvePrivateKey`: a software key in
tests, a key in a PKCS#11 token (common.token.TokenKey) in service. cryptography's builders call
`sign()` on the key, so the same code issues certificates and CRLs with either.

Leaf certificates: CN = name, O = institution (kiosks), OU = role, clientAuth, digitalSignature,
SKI/AKI, a random 159-bit serial. CRLs carry a CRL number and a lastUpdate strictly after the
previous one: OpenSSL (the gateway's ssl module, mosquitto) keeps every CRL it was given and
uses the one with the latest lastUpdate, so reloading a new one into the same context works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.roles import Role
from fleet.ca.errors import CaError

CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_T = TypeVar("_T")
BACKDATE = dt.timedelta(minutes=5)  # clocks of kiosks that are a little behind
# ...but at most this share of a short life, whose renewal falls at two thirds of the validity
BACKDATE_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Revoked:
    """A revoked certificate as the CRL lists it."""

    serial: int
    at: dt.datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


def subject(name: str, role: Role, institution: str | None = None) -> x509.Name:
    """The subject of a leaf: CN = name, O = institution (kiosks), OU = role."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if institution is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, institution))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value))
    return x509.Name(attrs)


class CertificateAuthority:
    """A CA certificate and the key that signs for it."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
            raise CaError(
                f"the key does not belong to the CA certificate {cert.subject.rfc4514_string()}"
            )
        self.cert = cert
        self.key = key
        self._last_crl: dt.datetime | None = None

    def follow(self, previous: dt.datetime) -> None:
        """Issue the next CRL after `previous`: one published by another process (the CLI, the
        service), so that every door, which keeps the newest, takes ours."""
        if self._last_crl is None or previous > self._last_crl:
            self._last_crl = previous

    @property
    def name(self) -> x509.Name:
        """The CA's subject."""
        return self.cert.subject

    def issue(
        self,
        public_key: CertificatePublicKeyTypes,
        name: x509.Name,
        *,
        now: dt.datetime,
        days: float,
    ) -> x509.Certificate:
        """A clientAuth leaf certificate for `public_key`, valid `days` from `now` (and a
        little before: BACKDATE, or a tenth of a short life)."""
        life = dt.timedelta(days=days)
        not_after = min(now + life, self.cert.not_valid_after_utc)
        backdate = min(BACKDATE, life * BACKDATE_SHARE)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - backdate)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(LEAF_KEY_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type,unused-ignore]
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        return self._signed(lambda: builder.sign(self.key, hashes.SHA256()))

    def crl(
        self, revoked: Sequence[Revoked], *, now: dt.datetime, days: float, number: int
    ) -> x509.CertificateRevocationList:
        """A CRL listing `revoked`, valid `days`, its lastUpdate after the previous one's."""
        last = now.replace(microsecond=0)
        if self._last_crl is not None and last <= self._last_crl:
            last = self._last_crl + dt.timedelta(seconds=1)
        self._last_crl = last
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(last)
            .next_update(last + dt.timedelta(days=days))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        for r in sorted(revoked, key=lambda r: r.serial):
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(r.serial)
                .revocation_date(min(r.at, last))
                .add_extension(x509.CRLReason(r.reason), critical=False)
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        return self._signed(lambda: builder.sign(self.key, hashes.SHA256()))

    def _signed(self, sign: Callable[[], _T]) -> _T:
        try:
            return sign()
        except (ValueError, TypeError) as err:
            raise CaError(
                f"the CA key {self.cert.subject.rfc4514_string()} could not sign: {err}"
            ) from err


def make_ca(
    key: ec.EllipticCurvePrivateKey, common_name: str, *, now: dt.datetime, years: int = 10
) -> x509.Certificate:
    """A new self-signed CA certificate for `key` (`kiosk-fleet ca init`)."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Platform Bersama"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def pem(obj: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    """PEM of a certificate or a CRL."""
    return obj.public_bytes(serialization.Encoding.PEM)
