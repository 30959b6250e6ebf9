"""Roles by certificate: the OU of a certificate from the platform's CAs names what it may do.

- `kiosk` (device CA): a kiosk; CN = device id, O = institution.
- `technician` (admin CA): may only ask the fleet service for enrolment tokens and register a
  kiosk's hardware (`PUT /provision/v1/devices/{id}/hardware`).
- `read-only-admin` (admin CA): may only read (gateway GETs, broker reads, `kiosk-fleet status`).
- `admin` (admin CA): everything, the signing key of desired-state documents stays with them.

A certificate of the admin CA without one of these OUs is an admin (certificates issued before
roles existed, and the fleet service's own certificate).
"""

from __future__ import annotations

from enum import Enum

from cryptography import x509
from cryptography.x509.oid import NameOID


class Role(Enum):
    """What a certificate allows."""

    KIOSK = "kiosk"
    TECHNICIAN = "technician"
    READ_ONLY_ADMIN = "read-only-admin"
    ADMIN = "admin"


PERSON_ROLES = (Role.TECHNICIAN, Role.READ_ONLY_ADMIN, Role.ADMIN)


def role_of_name(subject: x509.Name, *, admin_ca: bool) -> Role:
    """The role a subject's OU gives (admin CA certificates without a known OU: admin)."""
    if not admin_ca:
        return Role.KIOSK
    units = subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    values = {str(u.value) for u in units}
    for role in (Role.TECHNICIAN, Role.READ_ONLY_ADMIN):  # the narrower role wins
        if role.value in values:
            return role
    return Role.ADMIN
