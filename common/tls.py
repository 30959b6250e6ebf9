"""TLS contexts of every process: the client context (kiosk, fleet) and the server context.

Certificates and keys come in through one call, `load_identity`: today `key_file` is a PEM private
key. A key kept on a PKCS#11 token can later come in the same way: OpenSSL 3's pkcs11 provider
reads a `key_file` holding a PEM of type "PKCS#11 PROVIDER URI" through the same
`load_cert_chain` call, so only the provider's set-up would be added here, no caller changes.

`ResumingContext` is a client context that offers the last session it saw on every new
connection: asyncio opens TLS connections with `SSLContext.wrap_bio` and has no way to offer a
saved session, so a reconnection would otherwise cost a full handshake (certificates and
signatures) instead of a resumption.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Self, TypeVar

from common.errors import TlsFileError

_Ctx = TypeVar("_Ctx", bound=ssl.SSLContext)

# Where TLS 1.2 is allowed: forward secrecy and an AEAD only.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def load_identity(ctx: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    """Load a certificate (chain) and its private key into `ctx`; TlsFileError if they fail."""
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as err:
        raise TlsFileError("identity", cert_file, _reason(err)) from err


def load_trust(ctx: ssl.SSLContext, ca_file: Path) -> None:
    """Trust the CA certificates of a PEM file; TlsFileError if it does not load."""
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as err:
        raise TlsFileError("ca", ca_file, _reason(err)) from err


def client_context(
    ca_file: Path,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A client context trusting only `ca_file`, checking the host name, showing a certificate.

    `cert_file` and `key_file` (both or neither) are the client's own certificate and key.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return configure_client(ctx, ca_file, cert_file, key_file, min_version=min_version)


def configure_client(
    ctx: _Ctx,
    ca_file: Path,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> _Ctx:
    """Make a new client-side `ctx` (e.g. a ResumingContext) what `client_context` returns."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("give both cert_file and key_file, or neither")
    ctx.minimum_version = min_version
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.options |= ssl.OP_NO_COMPRESSION
    load_trust(ctx, ca_file)
    if cert_file is not None and key_file is not None:
        load_identity(ctx, cert_file, key_file)
    return ctx


def server_context(
    cert_file: Path,
    key_file: Path,
    client_cas: Iterable[Path],
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A server context requiring a client certificate issued by one of `client_cas`.

    It sends its own certificate (no root), issues one stateful session ticket per handshake
    (a short id, the session stays in the server's cache: few bytes on the wire) and, where
    TLS 1.2 is allowed, only forward-secret AEAD suites.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = min_version
    ctx.verify_mode = ssl.CERT_REQUIRED
    load_identity(ctx, cert_file, key_file)
    for ca_file in client_cas:
        load_trust(ctx, ca_file)
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 1
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if min_version <= ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers(TLS12_CIPHERS)
    return ctx


def _reason(err: OSError | ssl.SSLError) -> str:
    if isinstance(err, ssl.SSLError):
        return err.reason or str(err)
    return err.strerror or type(err).__name__


class ResumingContext(ssl.SSLContext):
    """A client SSLContext that offers the last session it saw on every new connection."""

    _saved: ssl.SSLSession | None
    _recent: deque[ssl.SSLObject]
    _last_counted: ssl.SSLObject | None
    handshakes: int
    resumptions: int

    def __new__(cls, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> Self:
        """A client context (ssl.SSLContext is made by __new__)."""
        return super().__new__(cls, protocol)

    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> None:
        self._saved = None
        self._recent = deque(maxlen=4)
        self._last_counted = None
        self.handshakes = 0
        self.resumptions = 0

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """Wrap a new connection, offering the saved session unless one is given."""
        if session is None and not server_side:
            session = self._saved
        self.handshakes += 1
        obj = super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        self._recent.append(obj)
        return obj

    def remember(self) -> None:
        """After an answer: save the newest connection's session once, count a resumption.

        The session is read once per new connection, after its first answer (when a TLS 1.3
        ticket has arrived): each read of `SSLObject.session` costs about 6 KiB that CPython 3.11
        with OpenSSL 3.0 never gives back, so reading it after every answer grows the process.
        """
        if not self._recent:
            return
        newest = self._recent[-1]
        if newest is self._last_counted:
            return
        self._last_counted = newest
        if newest.session_reused:
            self.resumptions += 1
        session = newest.session
        if session is not None and (session.has_ticket or session.id):
            self._saved = session

    def forget(self) -> None:
        """Drop the saved session (after a TLS failure)."""
        self._saved = None
