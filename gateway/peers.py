"""Who is on the other end of a connection: a device or an admin, from its client certificate.

The TLS layer already checked the chain and the validity dates. Here the certificate is parsed
once per connection: a device certificate must be signed by the device CA (CN = device id,
O = institution id), an admin certificate by the admin CA (CN = admin name). A certificate
from one CA never counts as the other role. An admin-CA certificate's OU says what its holder
may do (common/roles.py): technician (nothing here), read-only-admin (GET only), admin.
"""

from __future__ import annotations

import re
import ssl
import weakref
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from common.roles import Role as PersonRole
from common.roles import role_of_name

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")


class Role(Enum):
    """What a client certificate allows."""

    DEVICE = "device"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Peer:
    """The authenticated client of one connection."""

    role: Role
    name: str
    institution: str | None
    serial: int
    # an admin-CA certificate's role by its OU (common/roles.py): admin, read-only-admin,
    # technician; None for a device
    person: PersonRole | None = None


class PeerIdentifier:
    """Maps a connection's verified client certificate to a Peer, cached per connection."""

    def __init__(self, device_ca: x509.Certificate, admin_ca: x509.Certificate) -> None:
        if device_ca.subject == admin_ca.subject:
            raise ValueError("the device CA and the admin CA must have different names")
        self._device_ca = device_ca
        self._admin_ca = admin_ca
        self._cache: weakref.WeakKeyDictionary[Any, Peer | None] = weakref.WeakKeyDictionary()

    def identify(self, ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> Peer | None:
        """The peer of a TLS connection, or None if its certificate gives it no role."""
        if ssl_object is None:
            return None
        try:
            return self._cache[ssl_object]
        except KeyError:
            pass
        peer = self._parse(ssl_object.getpeercert(binary_form=True))
        self._cache[ssl_object] = peer
        return peer

    def _parse(self, der: bytes | None) -> Peer | None:
        if not der:
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        for role, ca in ((Role.DEVICE, self._device_ca), (Role.ADMIN, self._admin_ca)):
            if cert.issuer != ca.subject:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (InvalidSignature, ValueError, TypeError):
                return None
            name = _attr(cert, NameOID.COMMON_NAME)
            if name is None or not _ID.match(name):
                return None
            if role is Role.DEVICE:
                institution = _attr(cert, NameOID.ORGANIZATION_NAME)
                return Peer(role, name, institution, cert.serial_number)
            person = role_of_name(cert.subject, admin_ca=True)
            return Peer(role, name, None, cert.serial_number, person)
        return None


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value
