"""The device CA's operations over the fleet store: enrolment tokens, enrolment, re-enrolment,
revocation and CRLs. Synchronous (the store's calls and a token's signature block): the fleet
service runs them in its store worker thread, the CLI directly.

Tokens: 32 random bytes (base64url), bound to a kiosk's hardware serial and its institution,
valid at most [est] token_minutes (15), stored as their SHA-256 only, used once.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from common.roles import Role
from fleet.ca import csr as csrs
from fleet.ca.authority import CertificateAuthority, Revoked, subject
from fleet.ca.errors import CaError, EnrolError
from fleet.store.base import DeviceEntry, DeviceState, EnrolToken, FleetStore, IssuedCert, TokenUse

_log = logging.getLogger(__name__)
_SERIAL_TEXT = 64  # longest hardware serial accepted


def digest(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def hex_serial(cert: x509.Certificate) -> str:
    """A certificate's serial as the store keeps it (lower-case hex)."""
    return format(cert.serial_number, "x")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new enrolment token (shown once) and what it is bound to."""

    token: str
    serial: str
    device: str
    institution: str
    expires_at: int


class Issuer:
    """The device CA with its policy: issue, re-issue, revoke, list revocations."""

    def __init__(
        self,
        ca: CertificateAuthority,
        *,
        days: float = 30.0,
        token_minutes: float = 15.0,
        key_origin: str = "any",
        crl_days: float = 7.0,
        wall: Callable[[], float],
    ) -> None:
        self.ca = ca
        self.days = days
        self.token_s = int(token_minutes * 60)
        self.key_origin = key_origin
        self.crl_days = crl_days
        self.wall = wall

    def now(self) -> dt.datetime:
        """The wall clock as an aware datetime."""
        return dt.datetime.fromtimestamp(self.wall(), dt.UTC)

    # --- tokens -----------------------------------------------------------------------------

    def issue_token(
        self, store: FleetStore, *, serial: str, institution: str, technician: str
    ) -> IssuedToken:
        """A single-use token for the registered kiosk with this serial of this institution."""
        if not serial or len(serial) > _SERIAL_TEXT or not serial.isprintable() or ":" in serial:
            raise EnrolError(
                400, "bad_serial", "a kiosk serial is 1 to 64 printable characters, no ':'"
            )
        entry = store.device_by_serial(serial)
        if entry is None:
            raise EnrolError(
                404,
                "unknown_serial",
                f"no kiosk with serial {serial} is registered: an admin adds it with"
                f" `kiosk-fleet devices add DEVICE --institution {institution} --region CODE"
                f" --serial {serial}`",
            )
        if entry.institution != institution:
            raise EnrolError(
                403,
                "other_institution",
                f"the kiosk with serial {serial} is registered to another institution",
            )
        if entry.state in (DeviceState.TAMPERED, DeviceState.DECOMMISSIONED):
            raise EnrolError(
                403,
                "not_enrollable",
                f"{entry.device} is {entry.state.value}: an admin must reactivate it first",
            )
        token = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        now = int(self.wall())
        row = EnrolToken(
            digest(token), serial, entry.device, institution, technician, now, now + self.token_s
        )
        store.put_enrol_token(row)
        _log.info(
            "enrolment token for %s (serial %s) issued to %s", entry.device, serial, technician
        )
        return IssuedToken(token, serial, entry.device, institution, row.expires_at)

    # --- enrolment --------------------------------------------------------------------------

    def _checked_csr(self, body: bytes) -> x509.CertificateSigningRequest:
        csr = csrs.load_csr(csrs.decode_body(body))
        csrs.check_key(csr)
        csrs.check_origin(csr, self.key_origin)
        return csr

    def enrol(
        self, store: FleetStore, *, serial: str, token: str, body: bytes
    ) -> tuple[x509.Certificate, list[str]]:
        """/simpleenroll: the token (HTTP Basic password) for this serial, a CSR for its device;
        the new certificate and the serials of the kiosk's earlier ones, now revoked."""
        csr = self._checked_csr(body)
        now = int(self.wall())
        key = digest(token)
        use, row = store.use_enrol_token(key, serial, now, consume=False)
        _refuse_token(use, row, serial)
        assert row is not None
        csrs.check_subject(csr, row.device, row.institution)
        entry = store.device(row.device)
        if entry is None or entry.institution != row.institution:
            raise EnrolError(403, "not_registered", f"{row.device} is no longer registered")
        if entry.state in (DeviceState.TAMPERED, DeviceState.DECOMMISSIONED):  # since the token
            raise EnrolError(
                403,
                "not_enrollable",
                f"{entry.device} is {entry.state.value}: an admin must reactivate it first",
            )
        use, row = store.use_enrol_token(key, serial, now, consume=True)
        _refuse_token(use, row, serial)
        old = [c.serial for c in self._live(store, entry.device)]
        cert = self._issue(store, csr, entry)
        if old:  # a kiosk enrolled again (new token, new key): its earlier certificates go
            old = store.revoke_certificates(old, now, "superseded")
        return cert, old

    def reenrol(
        self, store: FleetStore, *, current: x509.Certificate, body: bytes
    ) -> x509.Certificate:
        """/simplereenroll: the TLS client certificate, same subject, a new key."""
        csr = self._checked_csr(body)
        name = _cn(current)
        found = [c for c in store.certificates(name=name) if c.serial == hex_serial(current)]
        if current.issuer != self.ca.name or not found or found[0].kind != Role.KIOSK.value:
            raise EnrolError(
                403, "unknown_certificate", "this certificate was not issued by the device CA"
            )
        if found[0].revoked_at is not None:
            raise EnrolError(
                403,
                "revoked",
                f"the certificate of {name} is revoked ({found[0].reason}): the kiosk must be"
                " enrolled again with a technician's token",
            )
        if current.not_valid_after_utc <= self.now():
            raise EnrolError(
                403,
                "expired",
                f"the certificate of {name} expired at"
                f" {current.not_valid_after_utc:%Y-%m-%d %H:%M}Z: the kiosk must be enrolled"
                " again with a technician's token",
            )
        if csr.subject != current.subject and not _same_cn_o(csr.subject, current.subject):
            raise EnrolError(
                400,
                "wrong_subject",
                f"re-enrolment keeps the subject {current.subject.rfc4514_string()}"
                f" (the request has {csr.subject.rfc4514_string() or 'none'})",
            )
        if csr.public_key() == current.public_key():
            raise EnrolError(400, "same_key", "re-enrolment needs a new key: make one in the token")
        entry = store.device(name)
        if entry is None:
            raise EnrolError(403, "not_registered", f"{name} is not registered")
        if entry.state is not DeviceState.ACTIVE:
            raise EnrolError(403, "not_active", f"{name} is {entry.state.value}")
        return self._issue(store, csr, entry)

    def _issue(
        self, store: FleetStore, csr: x509.CertificateSigningRequest, entry: DeviceEntry
    ) -> x509.Certificate:
        name = subject(entry.device, Role.KIOSK, entry.institution)
        cert = self.ca.issue(csr.public_key(), name, now=self.now(), days=self.days)
        expires = int(cert.not_valid_after_utc.timestamp())
        store.put_certificate(
            IssuedCert(
                hex_serial(cert),
                Role.KIOSK.value,
                entry.device,
                entry.institution,
                int(self.wall()),
                expires,
            )
        )
        store.put_device(
            dataclasses.replace(entry, cert_serial=hex_serial(cert), cert_expires=expires)
        )
        _log.info("certificate %s issued to %s until %d", hex_serial(cert), entry.device, expires)
        return cert

    # --- revocation -------------------------------------------------------------------------

    def _live(self, store: FleetStore, name: str) -> list[IssuedCert]:
        now = int(self.wall())
        return [
            c
            for c in store.certificates(kind=Role.KIOSK.value, name=name)
            if c.revoked_at is None and c.not_after > now
        ]

    def revoke_device(self, store: FleetStore, device: str, reason: str) -> list[str]:
        """Revoke every live certificate of a kiosk; the serials revoked (hex)."""
        serials = [c.serial for c in self._live(store, device)]
        return store.revoke_certificates(serials, int(self.wall()), reason) if serials else []

    def release_device(self, store: FleetStore, device: str) -> list[str]:
        """Lift the deactivation's hold on a kiosk's unexpired certificates; the serials."""
        now = int(self.wall())
        held = [
            c.serial
            for c in store.certificates(kind=Role.KIOSK.value, name=device)
            if c.reason == "deactivation" and c.not_after > now
        ]
        return store.release_held(held) if held else []

    def crl(
        self, store: FleetStore, kinds: tuple[str, ...] = (Role.KIOSK.value,)
    ) -> x509.CertificateRevocationList:
        """A new CRL of the CA: its revoked certificates not yet expired."""
        now = int(self.wall())
        revoked = [
            Revoked(
                int(c.serial, 16),
                dt.datetime.fromtimestamp(c.revoked_at, dt.UTC),
                _reason(c.reason),
            )
            for kind in kinds
            for c in store.certificates(kind=kind)
            if c.revoked_at is not None and c.not_after > now
        ]
        number = store.crl_number(self.ca.name.rfc4514_string())
        return self.ca.crl(revoked, now=self.now(), days=self.crl_days, number=number)


_REASONS = {
    "superseded": x509.ReasonFlags.superseded,
    "tamper": x509.ReasonFlags.key_compromise,
    "decommission": x509.ReasonFlags.cessation_of_operation,
    "deactivation": x509.ReasonFlags.certificate_hold,
}


def _reason(text: str | None) -> x509.ReasonFlags:
    return _REASONS.get(text or "", x509.ReasonFlags.unspecified)


def _cn(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(values) != 1 or not isinstance(values[0].value, str):
        raise EnrolError(403, "unknown_certificate", "the client certificate has no single CN")
    return values[0].value


def _same_cn_o(a: x509.Name, b: x509.Name) -> bool:
    def pick(n: x509.Name) -> tuple[list[str], list[str]]:
        return (
            [str(v.value) for v in n.get_attributes_for_oid(NameOID.COMMON_NAME)],
            [str(v.value) for v in n.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)],
        )

    return pick(a) == pick(b)


def _refuse_token(use: TokenUse, row: EnrolToken | None, serial: str) -> None:
    if use is TokenUse.ACCEPTED:
        return
    what = "ask the fleet service for a new one (`kiosk-fleet enrol-token SERIAL`)"
    if use is TokenUse.UNKNOWN:
        raise EnrolError(401, "unknown_token", f"the enrolment token is not known: {what}")
    if use is TokenUse.USED:
        raise EnrolError(401, "used_token", f"the enrolment token was already used: {what}")
    if use is TokenUse.EXPIRED:
        assert row is not None
        at = dt.datetime.fromtimestamp(row.expires_at, dt.UTC)
        raise EnrolError(
            401, "expired_token", f"the enrolment token expired at {at:%H:%M:%S}Z: {what}"
        )
    raise EnrolError(
        403,
        "other_serial",
        f"the enrolment token was issued for another kiosk, not serial {serial}",
    )


__all__ = ["CaError", "IssuedToken", "Issuer", "digest", "hex_serial"]
