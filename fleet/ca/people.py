"""The CAs made once (`kiosk-fleet ca init`) and the certificates of people: technicians and
admins (`kiosk-fleet technician add`, `kiosk-fleet admin add [--read-only]`), from the admin CA.

A person's key is made where it will stay: in their own PKCS#11 token (a smart card, a USB
token; the certificate is written beside a "PKCS#11 PROVIDER URI" PEM that OpenSSL 3 loads as
the key), or in a PEM file encrypted with a passphrase read from a file (PKCS#8, the best
encryption cryptography offers). The role is the certificate's OU (common/roles.py); a name has
one role at a time: the CA refuses a second role for a name with a live certificate, so the
broker's ACL, which knows names only, cannot be fooled by a certificate of another role.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common.roles import PERSON_ROLES, Role
from fleet.ca.authority import CertificateAuthority, make_ca, pem, subject
from fleet.ca.errors import CaError
from fleet.ca.issuer import hex_serial
from fleet.ca.keys import CaKeys
from fleet.ca.publish import write_atomically
from fleet.ca.settings import CaSettings, KeySource, TokenSettings
from fleet.errors import EXIT_USAGE
from fleet.store.base import FleetStore, IssuedCert

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
MIN_PASSPHRASE = 12


@dataclass(frozen=True, slots=True)
class PersonFiles:
    """What `technician add` / `admin add` wrote."""

    name: str
    role: Role
    cert: Path
    key: Path  # the encrypted PEM, or the token URI PEM
    serial: str
    not_after: int


def init_ca(settings: CaSettings, *, now: dt.datetime) -> list[Path]:
    """Make the device CA (and the admin CA when configured): keys in the token (or files),
    self-signed certificates; CaError if a certificate already exists."""
    made: list[Path] = []
    pairs = [(settings.cert_file, settings.key, "Platform Bersama Device CA")]
    if settings.admin_cert_file is not None and settings.admin_key is not None:
        pairs.append((settings.admin_cert_file, settings.admin_key, "Platform Bersama Admin CA"))
    for cert_file, _, _ in pairs:
        if cert_file.exists():
            raise CaError(f"{cert_file} exists: the CA is made once", EXIT_USAGE)
    keys = CaKeys(settings.token)
    try:
        for cert_file, source, name in pairs:
            key = _new_ca_key(keys, source)
            write_atomically(cert_file, pem(make_ca(key, name, now=now)))
            made.append(cert_file)
    finally:
        keys.close()
    return made


def _new_ca_key(keys: CaKeys, source: KeySource) -> ec.EllipticCurvePrivateKey:
    if source.file is not None:
        key = ec.generate_private_key(ec.SECP256R1())
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        source.file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(source.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return key
    assert source.label is not None
    from common.errors import TokenError

    try:
        made: ec.EllipticCurvePrivateKey = keys.token().generate_key(source.label)
    except TokenError as err:
        raise CaError(f"cannot make the CA key {source.label!r}: {err}") from err
    return made


def check_name_free(store: FleetStore, name: str, role: Role, now: int) -> None:
    """A name has one role: refuse a second role while a certificate of another is live."""
    if not NAME.match(name):
        raise CaError("a name is 1 to 64 of A-Z a-z 0-9 . _ -", EXIT_USAGE)
    for c in store.certificates(name=name):
        live = c.revoked_at is None and c.not_after > now
        if live and c.kind != role.value:
            raise CaError(
                f"{name} already holds a live {c.kind} certificate: revoke it first"
                f" (`kiosk-fleet revoke --person {name}`) or choose another name",
                EXIT_USAGE,
            )


def add_person(
    store: FleetStore,
    admin_ca: CertificateAuthority,
    name: str,
    role: Role,
    out: Path,
    *,
    days: float,
    now: dt.datetime,
    passphrase_file: Path | None = None,
    token: TokenSettings | None = None,
) -> PersonFiles:
    """Issue a person's certificate with a new key (in `token`, or a passphrase-encrypted file)."""
    assert role in PERSON_ROLES
    check_name_free(store, name, role, int(now.timestamp()))
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / f"{name}.pem", out / f"{name}.key"
    for path in (cert_path, key_path):
        if path.exists():
            raise CaError(f"{path} exists: move it away or choose another --out", EXIT_USAGE)
    public, write_key = _person_key(name, key_path, passphrase_file, token)
    cert = admin_ca.issue(public, subject(name, role), now=now, days=days)
    write_key()
    write_atomically(cert_path, pem(cert))
    not_after = int(cert.not_valid_after_utc.timestamp())
    store.put_certificate(
        IssuedCert(hex_serial(cert), role.value, name, None, int(now.timestamp()), not_after)
    )
    return PersonFiles(name, role, cert_path, key_path, hex_serial(cert), not_after)


def _person_key(
    name: str, key_path: Path, passphrase_file: Path | None, token: TokenSettings | None
) -> tuple[ec.EllipticCurvePublicKey, Any]:
    if token is not None:
        from common.errors import TokenError
        from common.token import Token, TokenConfig, write_uri_pem

        try:
            with Token.open(TokenConfig(token.module, token.label, token.pin_file)) as opened:
                key = opened.generate_key(name)
                uri = opened.uri(name)
                public = key.public_key()
        except TokenError as err:
            raise CaError(f"cannot make {name}'s key in the token: {err}") from err
        return public, lambda: write_uri_pem(key_path, uri)
    if passphrase_file is None:
        raise CaError("give --passphrase-file FILE or --token-module/--token-label", EXIT_USAGE)
    try:
        phrase = passphrase_file.read_bytes().rstrip(b"\r\n")
    except OSError as err:
        raise CaError(
            f"cannot read the passphrase file {passphrase_file} ({err.strerror})"
        ) from err
    if len(phrase) < MIN_PASSPHRASE:
        raise CaError(
            f"the passphrase in {passphrase_file} is shorter than {MIN_PASSPHRASE} characters",
            EXIT_USAGE,
        )
    soft = ec.generate_private_key(ec.SECP256R1())
    data = soft.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(phrase),
    )

    def write() -> None:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    return soft.public_key(), write


def revoke_person(store: FleetStore, name: str, now: int) -> list[str]:
    """Revoke every live person certificate of a name; the serials revoked."""
    live = [
        c.serial
        for c in store.certificates(name=name)
        if c.kind in {r.value for r in PERSON_ROLES} and c.revoked_at is None and c.not_after > now
    ]
    return store.revoke_certificates(live, now, "other") if live else []


def people(store: FleetStore, now: int) -> dict[Role, list[str]]:
    """Names with a live certificate, by role (the broker's admin ACL is made of it)."""
    out: dict[Role, list[str]] = {r: [] for r in PERSON_ROLES}
    for role in PERSON_ROLES:
        for c in store.certificates(kind=role.value):
            if c.revoked_at is None and c.not_after > now and c.name not in out[role]:
                out[role].append(c.name)
    return out
