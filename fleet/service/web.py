"""The service's web server: the read-only dashboard ([dashboard]), on loopback or behind admin
mTLS (fleet.dashboard.serve), and /healthz (this replica's ingest counts, never personal data)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

from common.clock import Clock
from fleet.dashboard import DashboardRunner, DashboardTls, dashboard_app, serve_dashboard
from fleet.service.settings import DashboardSettings
from fleet.store.base import FleetStore


def build_app(
    store: FleetStore,
    executor: Executor,
    clock: Clock,
    health: Callable[[], dict[str, Any]],
) -> web.Application:
    """The dashboard's application with /healthz added (the one place that mounts it): its
    store calls run in `executor`, the store's own thread."""
    app = dashboard_app(store, clock=clock, executor=executor)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(health())

    app.router.add_get("/healthz", healthz)
    return app


async def serve_web(settings: DashboardSettings, app: web.Application) -> DashboardRunner:
    """Listen as [dashboard] says (FleetError if the address or the TLS files cannot be used)."""
    tls = None
    if settings.cert_file and settings.key_file and settings.client_ca_file:
        tls = DashboardTls(settings.cert_file, settings.key_file, settings.client_ca_file)
    return await serve_dashboard(app, (settings.host, settings.port), tls)
