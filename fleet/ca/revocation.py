"""Revocation: a kiosk's live certificates marked revoked in the store, then a new CRL of the
device CA (and of the admin CA, when it is held here) published to every door.

Why a kiosk is revoked: `deactivation` (kiosk-fleet deactivate), `tamper` (a tamper alert the
fleet service raised), `decommission` (kiosk-fleet decommission), `key_compromise` or any word an
admin gives (kiosk-fleet revoke). A deactivation only holds the certificate (certificateHold):
reactivation lifts the hold. Any other revocation is for good: the kiosk comes back only by
enrolling again with a new technician's token (a new key, a new certificate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from common.roles import PERSON_ROLES
from fleet.ca.issuer import Issuer
from fleet.ca.publish import Published, publish
from fleet.ca.server import DeviceCa, open_ca
from fleet.config import FleetConfig
from fleet.store.base import FleetStore

REASONS = ("deactivation", "tamper", "decommission", "key_compromise", "superseded", "other")


def revoke_devices(
    store: FleetStore, issuer: Issuer, devices: Sequence[str], reason: str
) -> list[str]:
    """Revoke the live certificates of kiosks; the serials revoked (hex)."""
    serials: list[str] = []
    for device in devices:
        serials += issuer.revoke_device(store, device, reason)
    return serials


def _published_update(path: Path | None) -> dt.datetime | None:
    """The lastUpdate of the CRL published at `path`; None when there is none to read."""
    if path is None:
        return None
    try:
        return x509.load_pem_x509_crl(path.read_bytes()).last_update_utc
    except (OSError, ValueError):
        return None


def current_crls(
    store: FleetStore, ca: DeviceCa
) -> tuple[x509.CertificateRevocationList, x509.CertificateRevocationList | None]:
    """New CRLs of the device CA and (if held here) the admin CA, each issued after the one
    published last (whichever process published it)."""
    for authority, path in zip((ca.issuer.ca, ca.admin), ca.crl_files, strict=True):
        last = _published_update(path)
        if authority is not None and last is not None:
            authority.follow(last)
    device = ca.issuer.crl(store)
    admin = None
    if ca.admin is not None:
        people = Issuer(ca.admin, wall=ca.issuer.wall, crl_days=ca.issuer.crl_days)
        admin = people.crl(store, tuple(r.value for r in PERSON_ROLES))
    return device, admin


def revoke_and_publish(
    config: FleetConfig, store: FleetStore, devices: Sequence[str], reason: str | None
) -> tuple[list[str], Published | None]:
    """The CLI's revocation: open the CA, revoke, publish new CRLs (None when nothing changed).
    With `reason` None, the deactivation's hold is lifted instead (reactivation)."""
    ca = open_ca(config)
    try:
        if reason is None:
            serials = [s for d in devices for s in ca.issuer.release_device(store, d)]
        else:
            serials = revoke_devices(store, ca.issuer, devices, reason)
        if not serials:
            return [], None
        device, admin = current_crls(store, ca)
    finally:
        ca.close()
    return serials, publish(config, device, admin)
