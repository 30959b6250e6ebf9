"""TLS of the gateway's listener: TLS 1.3 (1.2 at least), client certificates required.

The context is common.tls.server_context trusting the device CA and the admin CA for client
certificates; here its files are named by their configuration keys, and the CAs and the device
CRL are read for the registry.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from common.errors import TlsFileError
from common.tls import server_context as _server_context
from gateway.config import TlsConfig
from gateway.errors import ConfigError


def server_context(cfg: TlsConfig) -> ssl.SSLContext:
    """The listener's SSL context."""
    try:
        return _server_context(
            cfg.cert, cfg.key, (cfg.device_ca, cfg.admin_ca), min_version=cfg.min_version
        )
    except TlsFileError as err:
        if err.role == "identity":
            key = "tls.cert"
        else:
            key = "tls.device_ca" if err.path == cfg.device_ca else "tls.admin_ca"
        raise ConfigError(key, str(err)) from err


def load_ca(path: Path, key: str) -> x509.Certificate:
    """One CA certificate (PEM), or ConfigError naming `key`."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ConfigError(key, "not a PEM certificate") from err


def load_crl(path: Path, issuer: x509.Certificate) -> frozenset[int]:
    """Serial numbers revoked by a CRL (PEM or DER) whose signature the issuer CA checks."""
    try:
        raw = path.read_bytes()
        crl = (
            x509.load_pem_x509_crl(raw)
            if raw.lstrip().startswith(b"-----")
            else x509.load_der_x509_crl(raw)
        )
    except (OSError, ValueError) as err:
        raise ConfigError("tls.device_crl", "not a readable CRL") from err
    try:
        valid = crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (InvalidSignature, TypeError, ValueError):
        valid = False
    if not valid:
        raise ConfigError("tls.device_crl", "not signed by the device CA")
    return frozenset(r.serial_number for r in crl)
