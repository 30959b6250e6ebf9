"""The gateway's CRLs: the device CA's (and the admin CA's), kept in the registry (a request of
a revoked device is refused on an open connection too) and in the listener's TLS context (a new
handshake with a revoked certificate is refused) without a restart.

A CRL comes from its file at start and on SIGHUP (`tls.device_crl`, `tls.admin_crl`), or from
the fleet service through `PUT /admin/v1/crl` (gateway/admin.py), which also rewrites the file.
OpenSSL keeps every CRL loaded into a context and uses the one with the latest lastUpdate, so a
new CRL is simply added. TLS-level checking (VERIFY_CRL_CHECK_LEAF) needs a CRL of every client
CA: it is on once both a device and an admin CRL are loaded; before that only the registry
refuses revoked devices (after the handshake, 403 DEVICE_DEACTIVATED).
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from gateway.config import TlsConfig
from gateway.errors import ConfigError
from gateway.registry import Registry

log = logging.getLogger(__name__)
MAX_CRL_BYTES = 4 * 1024 * 1024


class CrlError(ValueError):
    """A CRL that cannot be installed (the message says why)."""


def parse_crl(raw: bytes) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER; CrlError if it is neither."""
    try:
        if raw.lstrip().startswith(b"-----"):
            return x509.load_pem_x509_crl(raw)
        return x509.load_der_x509_crl(raw)
    except ValueError as err:
        raise CrlError("not a PEM or DER CRL") from err


class CrlKeeper:
    """Installs CRLs of the device CA and the admin CA into the registry and the TLS context."""

    def __init__(
        self,
        tls: TlsConfig,
        ctx: ssl.SSLContext,
        registry: Registry,
        device_ca: x509.Certificate,
        admin_ca: x509.Certificate,
    ) -> None:
        self._tls = tls
        self._ctx = ctx
        self._registry = registry
        self._cas = {"device": device_ca, "admin": admin_ca}
        self._paths = {"device": tls.device_crl, "admin": tls.admin_crl}
        self._current: dict[str, x509.CertificateRevocationList] = {}

    @property
    def tls_checking(self) -> bool:
        """True once new handshakes are checked against the CRLs."""
        return bool(self._ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF)

    def load_files(self) -> None:
        """Read the configured CRL files (start, SIGHUP); ConfigError naming the key."""
        for kind, path in self._paths.items():
            if path is None:
                continue
            key = f"tls.{kind}_crl"
            try:
                raw = path.read_bytes()
            except OSError as err:
                raise ConfigError(key, f"cannot be read ({err.strerror})") from err
            try:
                self._install(kind, parse_crl(raw), write=False, newer_only=False)
            except CrlError as err:
                raise ConfigError(key, str(err)) from err

    def install(self, raw: bytes) -> tuple[str, int]:
        """Install a CRL sent by the fleet service: (device|admin, revoked count); CrlError."""
        if len(raw) > MAX_CRL_BYTES:
            raise CrlError("the CRL is too large")
        crl = parse_crl(raw)
        for kind, ca in self._cas.items():
            if crl.issuer == ca.subject:
                return kind, self._install(kind, crl, write=True, newer_only=True)
        raise CrlError("the CRL is not issued by the device CA or the admin CA")

    def _install(
        self, kind: str, crl: x509.CertificateRevocationList, *, write: bool, newer_only: bool
    ) -> int:
        ca = self._cas[kind]
        try:
            valid = crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        except (InvalidSignature, TypeError, ValueError):
            valid = False
        if not valid:
            raise CrlError(f"not signed by the {kind} CA")
        old = self._current.get(kind)
        if newer_only and old is not None and crl.last_update_utc <= old.last_update_utc:
            raise CrlError(f"older than (or as old as) the {kind} CRL in force")
        pem = crl.public_bytes(serialization.Encoding.PEM)
        path = self._paths[kind]
        if write and path is not None:
            _write_atomically(path, pem)
        _add_to_context(self._ctx, pem)
        self._current[kind] = crl
        serials = frozenset(r.serial_number for r in crl)
        if kind == "device":
            self._registry.crl = serials
        if len(self._current) == len(self._cas) and not self.tls_checking:
            self._ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
            log.info("TLS handshakes are checked against the device and admin CRLs")
        log.info("%s CRL in force: %d revoked certificates", kind, len(serials))
        return len(serials)


def _add_to_context(ctx: ssl.SSLContext, pem: bytes) -> None:
    """Add a CRL to the context's store (`cadata` takes certificates only, `cafile` CRLs too)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as f:
        f.write(pem)
        f.flush()
        ctx.load_verify_locations(cafile=f.name)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as err:
        log.error(
            "could not write the CRL file %s (%s); it is in force until a restart",
            path,
            err.strerror,
        )
