"""Serving the dashboard: on loopback by default, on any other address only behind admin mTLS.

On loopback, only loopback Host names are answered (no DNS rebinding). Behind mTLS, the TLS
layer requires a client certificate of the admin client CA, and each connection's certificate is
checked once more as the gateway checks an admin (gateway/peers.py): issued directly by the
admin CA, a common name that is an id, and OU "admin" (the platform PKI's role of an admin
certificate; a device certificate says "kiosk"). The admin's name is shown on the pages.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import weakref
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from common.clock import Clock
from common.errors import TlsFileError
from common.tls import server_context
from fleet.dashboard.app import DASHBOARD, dashboard_app
from fleet.errors import EXIT_USAGE, FleetError
from fleet.store.base import FleetStore

_log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
ADMIN_ROLES = frozenset({"admin"})


@dataclass(frozen=True, slots=True)
class DashboardTls:
    """Admin mTLS for the dashboard: its server certificate and key, and the admin client CA."""

    cert: Path
    key: Path
    admin_ca: Path
    roles: frozenset[str] = ADMIN_ROLES  # OU values that count as an admin


class DashboardRunner:
    """A running dashboard: its address, and `close()`."""

    def __init__(self, runner: web.AppRunner, site: web.TCPSite, host: str, tls: bool) -> None:
        self._runner = runner
        self._site = site
        self.host = host
        self.tls = tls
        sockets = getattr(site._server, "sockets", None) or ()
        self.port: int = sockets[0].getsockname()[1] if sockets else 0

    @property
    def url(self) -> str:
        """The dashboard's address (https when behind mTLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"

    async def close(self) -> None:
        """Stop listening and close every connection."""
        await self._runner.cleanup()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve_dashboard(
    app_or_store: web.Application | FleetStore,
    listen: tuple[str, int],
    tls: DashboardTls | None = None,
    *,
    clock: Clock | None = None,
    executor: Executor | None = None,
) -> DashboardRunner:
    """Serve the dashboard on `listen` (host, port; port 0 picks one); FleetError if refused."""
    host, port = listen
    if tls is None and not is_loopback(host):
        raise FleetError(
            f"the dashboard listens on {host} only behind admin mTLS: give it a server "
            "certificate, key and the admin CA, or listen on 127.0.0.1",
            EXIT_USAGE,
        )
    app = (
        app_or_store
        if isinstance(app_or_store, web.Application)
        else dashboard_app(app_or_store, clock=clock, executor=executor)
    )
    dash = app[DASHBOARD]
    context = None
    if tls is not None:
        try:
            context = server_context(tls.cert, tls.key, [tls.admin_ca])
            dash.admin_check = AdminCheck(_load_ca(tls.admin_ca), tls.roles)
        except TlsFileError as err:
            raise FleetError(f"dashboard TLS: {err}", EXIT_USAGE) from err
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise FleetError(f"the dashboard cannot listen on {host}:{port}: {err.strerror}") from err
    running = DashboardRunner(runner, site, host, context is not None)
    if context is None:
        names = {host, "127.0.0.1", "localhost", "[::1]"}
        dash.hosts.update(f"{name}:{running.port}" for name in names)
    _log.info("dashboard on %s", running.url)
    return running


def _load_ca(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as err:
        raise TlsFileError("ca", path, "not a PEM certificate") from err


class AdminCheck:
    """The admin's name from a connection's client certificate, or None (cached per connection)."""

    def __init__(self, admin_ca: x509.Certificate, roles: frozenset[str]) -> None:
        self._ca = admin_ca
        self._roles = roles
        self._cache: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()

    def __call__(self, request: web.Request) -> str | None:
        """The admin's certificate name, or None if the certificate is no admin's."""
        transport = request.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        if tls is None:
            return None
        try:
            return self._cache[tls]
        except KeyError:
            pass
        name = self.name_of(tls.getpeercert(binary_form=True))
        self._cache[tls] = name
        if name is None:
            _log.warning("dashboard: refused a client certificate that is no admin's")
        return name

    def name_of(self, der: bytes | None) -> str | None:
        """The common name of an admin certificate (DER), None for any other certificate."""
        if not der:
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
            if cert.issuer != self._ca.subject:
                return None
            cert.verify_directly_issued_by(self._ca)
        except (InvalidSignature, ValueError, TypeError):
            return None
        name = _single(cert, NameOID.COMMON_NAME)
        role = _single(cert, NameOID.ORGANIZATIONAL_UNIT_NAME)
        if name is None or not _NAME.match(name) or role not in self._roles:
            return None
        return name


def _single(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


__all__ = ["AdminCheck", "DashboardRunner", "DashboardTls", "is_loopback", "serve_dashboard"]
