"""The agent's TLS client context for the gateway: client certificate, TLS 1.2+, resumption.

asyncio opens TLS connections with `SSLContext.wrap_bio` and has no way to offer a saved session,
so `ResumingContext` does it: it remembers the last resumable session of the gateway and offers
it on every new connection. A reconnection after the keep-alive connection closed then costs a
resumption (no certificate exchange, no signatures) instead of a full handshake.
"""

from __future__ import annotations

import ssl
from collections import deque
from pathlib import Path

from edge_agent.errors import ConfigError


class ResumingContext(ssl.SSLContext):
    """An SSLContext that offers the last session it saw on every new client connection."""

    # Instances are made with ssl.SSLContext's __new__; attributes are set in `_setup`.
    _saved: ssl.SSLSession | None
    _recent: deque[ssl.SSLObject]
    _last_counted: ssl.SSLObject | None
    handshakes: int
    resumptions: int

    def _setup(self) -> None:
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
        """After an answer: save the newest connection's session, count it if it was resumed."""
        if not self._recent:
            return
        newest = self._recent[-1]
        if newest is not self._last_counted:
            self._last_counted = newest
            if newest.session_reused:
                self.resumptions += 1
        session = newest.session
        if session is not None and (session.has_ticket or session.id):
            self._saved = session

    def forget(self) -> None:
        """Drop the saved session (after a TLS failure)."""
        self._saved = None


def client_context(ca_file: Path, cert_file: Path, key_file: Path) -> ResumingContext:
    """The device's client context: trusts only the platform CA, shows the device certificate."""
    ctx = ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx._setup()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.options |= ssl.OP_NO_COMPRESSION
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as err:
        raise ConfigError("gateway.ca_file", f"cannot load the CA certificate: {err}") from err
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            "gateway.cert_file", f"cannot load the client certificate and key: {err}"
        ) from err
    return ctx
