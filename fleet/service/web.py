"""The service's web server: the read-only dashboard ([dashboard]), on loopback or behind admin
mTLS, and /healthz (this replica's ingest counts, never personal data)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

from common.clock import Clock
from common.errors import TlsFileError
from common.tls import server_context
from fleet.errors import FleetError
from fleet.service.settings import DashboardSettings
from fleet.store.base import FleetStore

_log = logging.getLogger(__name__)


def build_app(
    store: FleetStore,
    executor: Executor,
    clock: Clock,
    health: Callable[[], dict[str, Any]],
) -> web.Application:
    """The dashboard's application with /healthz added (the one place that mounts it): its
    store calls run in `executor`, the store's own thread."""
    # At the merge with fleet/dashboard/ this line becomes
    #   app = dashboard_app(store, clock=clock, executor=executor)
    # and WebServer's listening can be serve_dashboard's (same rules: loopback or admin mTLS).
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(health())

    app.router.add_get("/healthz", healthz)
    return app


class WebServer:
    """The aiohttp runner of the dashboard."""

    def __init__(self, settings: DashboardSettings, app: web.Application) -> None:
        self.settings = settings
        self._app = app
        self._runner: web.AppRunner | None = None
        self.port = settings.port

    @property
    def url(self) -> str:
        """Where admins open it."""
        scheme = "https" if self.settings.tls else "http"
        host = self.settings.host
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}/"

    async def start(self) -> None:
        """Listen (FleetError if the address or the TLS files cannot be used)."""
        s = self.settings
        ssl_context = None
        if s.cert_file is not None and s.key_file is not None and s.client_ca_file is not None:
            try:
                ssl_context = server_context(s.cert_file, s.key_file, [s.client_ca_file])
            except TlsFileError as err:
                raise FleetError(f"dashboard TLS files: {err}") from err
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.host, s.port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as err:
            await self._runner.cleanup()
            raise FleetError(
                f"the dashboard cannot listen on {s.host}:{s.port}: {err.strerror}"
            ) from err
        server = site._server  # the bound port when 0 was asked
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        _log.info("dashboard on %s", self.url)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
