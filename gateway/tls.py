"""TLS of the gateway's listener: TLS 1.3 (1.2 at least), client certificates required.

The context is common.tls.server_context trusting the device CA and the admin CA for client
certificates; here its files are named by their configuration keys, and the CAs are read for
the registry (the CRLs: gateway/crl.py).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from cryptography import x509

from common.errors import TlsFileError
from common.tls import server_context as _server_context
from gateway.config import TlsConfig
from gateway.errors import ConfigError

log = logging.getLogger(__name__)


class AlertingSSLObject(ssl.SSLObject):
    """An SSLObject whose failed handshake first lets its TLS alert go out.

    asyncio's and uvloop's TLS protocols close the socket as soon as `do_handshake` raises,
    dropping the alert OpenSSL wrote (e.g. certificate_required, unknown_ca). Here the first
    failure is reported as "want read": the protocol then sends what is outgoing (the alert)
    and waits; the client, told, closes, and the next call raises the kept error. A client that
    stays is closed by the handshake timeout.
    """

    _failed: ssl.SSLError | None = None

    def do_handshake(self) -> None:
        """As SSLObject.do_handshake, the alert of a refusal flushed first."""
        if self._failed is not None:
            raise self._failed
        try:
            super().do_handshake()
        except ssl.SSLWantReadError:
            raise
        except ssl.SSLError as err:
            log.info("TLS handshake refused: %s", err.reason or type(err).__name__)
            self._failed = err
            raise ssl.SSLWantReadError("the alert is sent first") from err


def server_context(cfg: TlsConfig) -> ssl.SSLContext:
    """The listener's SSL context."""
    try:
        ctx = _server_context(
            cfg.cert, cfg.key, (cfg.device_ca, cfg.admin_ca), min_version=cfg.min_version
        )
    except TlsFileError as err:
        if err.role == "identity":
            key = "tls.cert"
        else:
            key = "tls.device_ca" if err.path == cfg.device_ca else "tls.admin_ca"
        raise ConfigError(key, str(err)) from err
    ctx.sslobject_class = AlertingSSLObject
    return ctx


def load_ca(path: Path, key: str) -> x509.Certificate:
    """One CA certificate (PEM), or ConfigError naming `key`."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ConfigError(key, "not a PEM certificate") from err
