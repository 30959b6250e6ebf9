"""Looking for kiosk private keys in files: there must be none (a kiosk's key lives in a token).

A kiosk certificate is a leaf client certificate (clientAuth, not serverAuth) with the OU
`kiosk` or issued by a device CA (its issuer's CN names "device"). Every certificate in the
folders is read; every unencrypted PEM private key (PKCS#8, SEC1 "EC", PKCS#1 "RSA") is loaded
and its public key compared with the kiosk certificates'. Encrypted keys are a technician's or
an admin's and are skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_BYTES = 1 << 20  # PEM files are small; databases and logs beyond this are not read
_KEY = re.compile(
    rb"-----BEGIN (?:EC |RSA )?PRIVATE KEY-----.+?-----END (?:EC |RSA )?PRIVATE KEY-----", re.S
)


def _files(folders: Iterable[Path]) -> Iterator[tuple[Path, bytes]]:
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                path = Path(root) / name
                try:
                    if not path.is_file() or path.stat().st_size > MAX_BYTES:
                        continue
                    yield path, path.read_bytes()
                except OSError:
                    continue  # a socket, a file gone meanwhile


def _is_kiosk(cert: x509.Certificate) -> bool:
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return False
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages or ExtendedKeyUsageOID.SERVER_AUTH in usages:
        return False
    units = {
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    }
    issuer = " ".join(str(a.value) for a in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME))
    return "kiosk" in units or "device" in issuer.lower()


def _public_der(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    der: bytes = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def kiosk_certificates(folders: Iterable[Path]) -> dict[bytes, Path]:
    """The public keys (DER) of every kiosk certificate in the folders, with a file of each."""
    found: dict[bytes, Path] = {}
    for path, data in _files(folders):
        if b"-----BEGIN CERTIFICATE-----" not in data:
            continue
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            continue
        for cert in certs:
            if _is_kiosk(cert):
                found.setdefault(_public_der(cert), path)
    return found


def kiosk_key_files(folders: Iterable[Path], kiosks: dict[bytes, Path]) -> list[Path]:
    """Files holding the private key of one of `kiosks` (public key DER → certificate file)."""
    hits = []
    for path, data in _files(folders):
        if b"PRIVATE KEY-----" not in data:
            continue
        for block in _KEY.findall(data):
            try:
                key = serialization.load_pem_private_key(block, password=None)
            except (ValueError, TypeError):
                continue  # encrypted, or not a key after all
            if _public_der(key) in kiosks:
                hits.append(path)
                break
    return hits
