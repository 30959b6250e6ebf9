"""The CA as the fleet service runs it: the keys opened once, the Issuer, the EST listener."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509

from fleet.ca.authority import CertificateAuthority
from fleet.ca.bindings import bindings_api
from fleet.ca.errors import CaError
from fleet.ca.est import MAX_BODY, EstApi, StoreCall, est_context
from fleet.ca.issuer import Issuer
from fleet.ca.keys import CaKeys, load_certificate
from fleet.config import FleetConfig
from fleet.errors import EXIT_USAGE, FleetError
from fleet.provisioning.handover import HandoverApi

_log = logging.getLogger(__name__)


@dataclass
class DeviceCa:
    """The opened CA: the device CA's Issuer, the admin CA (if held here), the token."""

    issuer: Issuer
    admin: CertificateAuthority | None
    keys: CaKeys
    admin_cert: x509.Certificate | None = None  # who technicians' certificates come from
    crl_files: tuple[Path | None, Path | None] = (None, None)  # published: device, admin

    def close(self) -> None:
        """Release the token."""
        self.keys.close()


def open_ca(config: FleetConfig, *, wall: Callable[[], float] = time.time) -> DeviceCa:
    """Open [ca] of fleet.toml (FleetError, exit 2, when it is absent)."""
    ca = config.ca
    if ca is None:
        raise FleetError(f"{config.source} has no [ca] section (the device CA)", EXIT_USAGE)
    keys = CaKeys(ca.token)
    try:
        device = keys.authority(ca.cert_file, ca.key, "device CA")
        admin, admin_cert = None, None
        if ca.admin_cert_file is not None:
            admin_cert = load_certificate(ca.admin_cert_file, "admin CA certificate")
        if ca.admin_cert_file is not None and ca.admin_key is not None:
            admin = keys.authority(ca.admin_cert_file, ca.admin_key, "admin CA")
    except BaseException:
        keys.close()
        raise
    minutes = config.est.token_minutes if config.est is not None else 15.0
    issuer = Issuer(
        device,
        days=ca.days,
        token_minutes=minutes,
        key_origin=ca.key_origin,
        crl_days=ca.crl_days,
        wall=wall,
    )
    return DeviceCa(issuer, admin, keys, admin_cert, (ca.crl_file, ca.admin_crl_file))


class EstRunner:
    """The EST listener: its port and `close()`."""

    def __init__(self, runner: web.AppRunner, port: int, api: EstApi) -> None:
        self._runner = runner
        self.port = port
        self.api = api

    async def close(self) -> None:
        """Stop listening."""
        await self._runner.cleanup()


async def serve_est(
    config: FleetConfig,
    ca: DeviceCa,
    call: StoreCall[object],
    *,
    published: Callable[[], Awaitable[object]] | None = None,
) -> EstRunner:
    """Listen as [est] says (FleetError when the address or the files cannot be used)."""
    est = config.est
    assert est is not None and config.ca is not None
    admin_ca = ca.admin_cert
    clients = [ca.issuer.ca.cert] + ([admin_ca] if admin_ca is not None else [])
    ctx = est_context(est, clients)
    api = EstApi(ca.issuer, call, admin_ca=admin_ca, published=published)
    app = web.Application(client_max_size=MAX_BODY)
    api.add_routes(app)
    HandoverApi(ca.issuer, call, admin_ca=admin_ca, published=published).add_routes(app)
    bindings_api(config, ca, call).add_routes(app)  # PUT/DELETE /provision/v1/.../hardware
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, est.host, est.port, ssl_context=ctx)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise FleetError(f"[est] listen {est.host}:{est.port}: {err.strerror}") from err
    port = int(runner.addresses[0][1])
    _log.info("EST listening on https://%s:%d/.well-known/est/", est.host, port)
    return EstRunner(runner, port, api)


__all__ = ["CaError", "DeviceCa", "EstRunner", "open_ca", "serve_est"]
