"""The hardware routes (fleet/ca/bindings.py) on the EST listener's TLS, over the test EST's
CA and store, pinning at a real gateway (tests/fleet/ca/test_bindings.py and
tests/provisioning/test_binding_register.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from fleet.ca.bindings import BindingsApi
from fleet.ca.est import est_context
from fleet.ca.keys import load_certificate
from fleet.ca.settings import EstSettings
from fleet.gateway import GatewayAdmin
from fleet.store.base import FleetStore
from tests.fleet.ca.conftest import Est

INVENTORY: dict[str, Any] = {
    "reader_name": "Virtual PCD 00 00",
    "reader_serial": "RDR-SIM-0001",
    "sam_serial": "SAM-SIM-0001",
    "sam_activated": True,
    "sensor_serial": "FPM-SIM-0001",
    "sensor_params": {"baud": 57600, "library_size": 1000, "address": "FFFFFFFF"},
    "mcu_id": "E6613852834B2A21",
}


@asynccontextmanager
async def serve_bindings(
    est: Est, gateway: Callable[[], GatewayAdmin] | None
) -> AsyncIterator[str]:
    """Listen on loopback with the EST listener's TLS; yield the base URL."""

    async def call(fn: Callable[[FleetStore], Any]) -> Any:
        return await asyncio.to_thread(fn, est.store)

    admin_ca = load_certificate(est.pki.admin_ca.cert, "admin CA")
    api = BindingsApi(est.issuer, call, admin_ca=admin_ca, gateway=gateway)
    app = web.Application()
    api.add_routes(app)
    settings = EstSettings("127.0.0.1", 0, est.pki.server.cert, est.pki.server.key)
    ctx = est_context(settings, [est.issuer.ca.cert, admin_ca])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    try:
        yield f"https://localhost:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
