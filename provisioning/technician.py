"""The technician's credentials: their certificate (admin CA, OU technician) and key.

The key is either a PEM private key file (passphrase-protected: `--technician-passphrase-file`)
or a "PKCS#11 PROVIDER URI" PEM naming a key in the technician's token (what `kiosk-fleet
technician add --token-module ...` writes); the token is then opened with the module given
(`--technician-token-module`, by default the kiosk's) and the PIN file the URI names. The same
files serve TLS to the fleet service (common.tls) and the record's signature.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.errors import TokenError
from common.token import Token, TokenConfig
from common.token_uri import URI_PEM_LABEL
from provisioning.errors import UsageError


@dataclass(frozen=True)
class Technician:
    """Who provisions: the certificate's CN, its files and the signing key."""

    name: str
    cert: x509.Certificate
    cert_file: Path
    key_file: Path
    key: ec.EllipticCurvePrivateKey
    token_module: Path | None = None  # where the key is in a token: its PKCS#11 module
    pin_file: Path | None = None  # and the token's PIN file (its URI's pin-source)


def load_technician(
    cert_file: Path,
    key_file: Path,
    *,
    passphrase_file: Path | None = None,
    token_module: Path | None = None,
) -> Technician:
    """Read the technician's certificate and open their key (UsageError saying what to fix)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        raw = key_file.read_bytes()
    except (OSError, ValueError) as err:
        raise _bad(f"{cert_file} / {key_file}", str(err)) from err
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise _bad(str(cert_file), "the certificate has no single CN")
    name = str(names[0].value)
    in_token = f"-----BEGIN {URI_PEM_LABEL}-----".encode() in raw
    pin_file = None
    if in_token:
        key, pin_file = _token_key(raw, token_module, key_file)
    else:
        try:
            secret = passphrase_file.read_bytes().strip() if passphrase_file else None
            loaded = serialization.load_pem_private_key(raw, secret)
        except (OSError, ValueError, TypeError) as err:
            raise _bad(str(key_file), f"the key does not load ({type(err).__name__})") from err
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise _bad(str(key_file), "the key is not an EC key")
        key = loaded
    if key.public_key() != cert.public_key():
        raise _bad(str(key_file), "the key is not the certificate's")
    module = token_module if in_token else None
    return Technician(name, cert, cert_file, key_file, key, module, pin_file)


def parse_uri_pem(raw: bytes) -> tuple[str, str, Path | None]:
    """(token label, key label, PIN file) of a URI PEM (ValueError when it is not one)."""
    lines = [ln for ln in raw.decode("ascii").splitlines() if ln and not ln.startswith("-----")]
    der = base64.b64decode("".join(lines))
    uri = _der_strings(der)[-1]
    if not uri.startswith("pkcs11:"):
        raise ValueError("not a pkcs11: URI")
    path, _, query = uri[len("pkcs11:") :].partition("?")
    attrs = dict(part.split("=", 1) for part in path.split(";") if "=" in part)
    params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    pin = params.get("pin-source")
    pin_file = (
        Path(unquote(pin)[len("file:") :]) if pin and unquote(pin).startswith("file:") else None
    )
    return unquote(attrs["token"]), unquote(attrs["object"]), pin_file


def _token_key(
    raw: bytes, module: Path | None, key_file: Path
) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    try:
        token_label, key_label, pin_file = parse_uri_pem(raw)
    except (ValueError, KeyError, UnicodeDecodeError) as err:
        raise _bad(str(key_file), "the token URI PEM does not parse") from err
    if module is None or pin_file is None:
        raise _bad(str(key_file), "give --technician-token-module and a URI with a pin-source")
    try:
        token = Token.open(TokenConfig(module, token_label, pin_file))
        return token.find_key(key_label), pin_file
    except TokenError as err:
        raise _bad(str(key_file), str(err)) from err


def _der_strings(der: bytes) -> list[str]:
    """The string values inside one DER SEQUENCE (short and long lengths)."""
    out: list[str] = []
    pos = 0

    def length(at: int) -> tuple[int, int]:
        first = der[at]
        if first < 0x80:
            return first, at + 1
        n = first & 0x7F
        return int.from_bytes(der[at + 1 : at + 1 + n], "big"), at + 1 + n

    if der[0] != 0x30:
        raise ValueError("not a SEQUENCE")
    _, pos = length(1)
    while pos < len(der):
        size, start = length(pos + 1)
        out.append(der[start : start + size].decode("utf-8"))
        pos = start + size
    return out


def _bad(what: str, why: str) -> UsageError:
    return UsageError(
        "TECHNICIAN_CREDENTIALS",
        f"Sertifikat atau kunci teknisi tidak dapat dipakai ({what}: {why}): periksa berkas"
        " dan token teknisi Anda.",
        f"The technician's certificate or key cannot be used ({what}: {why}): check your files"
        " and your token.",
    )
