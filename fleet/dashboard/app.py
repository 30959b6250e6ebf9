"""The read-only dashboard: an aiohttp application rendering Jinja2 templates from the store.

Pages: `/` (the fleet table), `/kiosk/<device>`, `/alerts`, `/sanctions`, and the one style
sheet. Only GET and HEAD; every answer carries the security headers and a Server-Timing entry
(`app;dur=<ms>`, the server's time for the answer). Store calls are synchronous: they run in the
executor given (the store's worker thread) or in asyncio's default one. A bad query parameter is
a 400 page naming it, an unknown kiosk a 404 page, a failing store a 503 page; never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

import jinja2
from aiohttp import web

from common.clock import Clock, SystemClock
from fleet.dashboard import kiosk as kiosk_view
from fleet.dashboard import views
from fleet.dashboard.views import BadParameter
from fleet.store.base import Alert, DeviceFilter, FleetRow, FleetStore, Scope, StoreError
from protocol.nik import NIK_IN_TEXT

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

CSP = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
READ_METHODS = ("GET", "HEAD")
RECENT_CLEARED = 50
NAV = (
    ("/", "Armada kios", "Fleet"),
    ("/alerts", "Peringatan", "Alerts"),
    ("/sanctions", "Sanksi", "Sanctions"),
)

AdminCheck = Callable[[web.Request], str | None]


@dataclass
class Dashboard:
    """What the handlers share; `hosts` and `admin_check` are set by whoever serves the app."""

    store: FleetStore
    clock: Clock
    executor: Executor | None
    templates: jinja2.Environment
    css: bytes
    hosts: set[str] = field(default_factory=set)  # allowed Host headers; empty: any
    admin_check: AdminCheck | None = None  # the admin's name from the client certificate

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a synchronous store call off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, functools.partial(fn, *args)
        )


DASHBOARD = web.AppKey("dashboard", Dashboard)
ADMIN = web.RequestKey("admin", str)  # the admin's certificate name, behind mTLS


def dashboard_app(
    store: FleetStore, *, clock: Clock | None = None, executor: Executor | None = None
) -> web.Application:
    """The dashboard application over `store` (served by `serve_dashboard`)."""
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("fleet.dashboard", "templates"),
        autoescape=True,
        finalize=_mask_nik,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters["num"] = views.number
    css = (resources.files("fleet.dashboard") / "static" / "dashboard.css").read_bytes()
    app = web.Application(middlewares=[_guard])
    app[DASHBOARD] = Dashboard(store, clock or SystemClock(), executor, templates, css)
    app.router.add_get("/", _fleet)
    app.router.add_get("/kiosk/{device}", _kiosk)
    app.router.add_get("/alerts", _alerts)
    app.router.add_get("/sanctions", _sanctions)
    app.router.add_get("/static/dashboard.css", _css)
    return app


def _mask_nik(value: Any) -> Any:
    """Every text a page prints: a NIK-shaped run of 16 digits keeps its first four only."""
    if isinstance(value, str) and not hasattr(value, "__html__"):  # not already-safe markup
        return NIK_IN_TEXT.sub(lambda m: m.group(1) + "*" * 12, value)
    return value


def render(request: web.Request, template: str, code: int = 200, **values: Any) -> web.Response:
    """A page from a template, with the navigation and the signed-in admin."""
    dash = request.app[DASHBOARD]
    html = dash.templates.get_template(template).render(
        nav=NAV, path=request.path, admin=request.get(ADMIN), **values
    )
    return web.Response(text=html, status=code, content_type="text/html", charset="utf-8")


def error_page(
    request: web.Request, status: int, title: tuple[str, str], message: tuple[str, str]
) -> web.Response:
    """An error page in both languages (never echoing the request's values)."""
    return render(
        request, "error.html", status, status=status, title=title, message=message, parameter=None
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host and admin checks, read-only methods, error pages, security headers, timing."""
    started = time.perf_counter()
    dash = request.app[DASHBOARD]
    response: web.StreamResponse
    admin = dash.admin_check(request) if dash.admin_check is not None else None
    if dash.hosts and request.host not in dash.hosts:
        response = web.Response(status=421, text="421: wrong host name\n")
    elif dash.admin_check is not None and admin is None:
        response = error_page(
            request,
            403,
            ("Akses ditolak", "Access refused"),
            (
                "Sertifikat klien ini bukan sertifikat admin.",
                "This client certificate is not an admin certificate.",
            ),
        )
    elif request.method not in READ_METHODS:
        response = _method_not_allowed(request)
    else:
        if admin is not None:
            request[ADMIN] = admin
        response = await _answer(request, handler)
    response.headers.update(HEADERS)
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def _method_not_allowed(request: web.Request) -> web.Response:
    response = error_page(
        request,
        405,
        ("Metode tidak diizinkan", "Method not allowed"),
        ("Dasbor ini hanya untuk dibaca (GET, HEAD).", "This dashboard is read-only (GET, HEAD)."),
    )
    response.headers["Allow"] = ", ".join(READ_METHODS)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadParameter as err:
        return render(
            request,
            "error.html",
            400,
            status=400,
            parameter=err,
            title=("Parameter tidak valid", "Bad parameter"),
            message=None,
        )
    except web.HTTPNotFound:
        return error_page(
            request,
            404,
            ("Halaman tidak ditemukan", "Page not found"),
            ("Alamat ini tidak ada di dasbor.", "This address is not on the dashboard."),
        )
    except web.HTTPMethodNotAllowed:
        return _method_not_allowed(request)
    except StoreError as err:
        _log.error("dashboard: the store failed: %s", err)
        return error_page(
            request,
            503,
            ("Penyimpanan tidak tersedia", "Store unavailable"),
            ("Coba lagi sebentar lagi.", "Try again in a moment."),
        )
    except web.HTTPException:
        raise
    except Exception:
        _log.exception("dashboard: %s %s failed", request.method, request.path)
        return error_page(
            request,
            500,
            ("Kesalahan server", "Server error"),
            ("Kesalahan dicatat di log layanan.", "The error is in the service's log."),
        )


# --- pages -------------------------------------------------------------------------------------


def _query(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    counts = {name: len(request.query.getall(name)) for name in request.query}
    views.single(request.query, allowed, counts)
    return {name: request.query[name] for name in request.query}


async def _fleet(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    query = views.parse_fleet_query(_query(request, views.FLEET_PARAMETERS))
    rows = await dash.run(dash.store.fleet, query.store_filter)
    page = views.fleet_page(rows, query, dash.clock.time())
    return render(request, "fleet.html", page=page)


async def _kiosk(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    _query(request, ())
    device = request.match_info["device"]
    if not views.ID.match(device):
        raise web.HTTPNotFound()
    page = await dash.run(_load_kiosk, dash.store, device, dash.clock.time())
    if page is None:
        return error_page(
            request,
            404,
            ("Kios tidak ditemukan", "Kiosk not found"),
            (
                "Kios ini tidak ada di registri dan belum pernah terdengar.",
                "This kiosk is not in the registry and has never been heard.",
            ),
        )
    return render(request, "kiosk.html", page=page)


def _load_kiosk(store: FleetStore, device: str, now: float) -> kiosk_view.KioskPage | None:
    """Everything of one kiosk, read in one go off the event loop; None if unknown."""
    entry = store.device(device)
    history = store.health_history(device, kiosk_view.HEALTH_ROWS)
    where = DeviceFilter(entry.institution, entry.region) if entry else DeviceFilter()
    row: FleetRow | None = next((r for r in store.fleet(where) if r.device == device), None)
    if entry is None and row is None and not history:
        return None
    first, last = kiosk_view.usage_window(entry, now)
    sanctions = store.sanctions(Scope.DEVICE, device)
    if entry is not None:
        sanctions += store.sanctions(Scope.INSTITUTION, entry.institution)
    alerts = [a for a in store.alerts(open_only=True) if a.target == device]
    return kiosk_view.kiosk_page(
        device,
        entry,
        row,
        history,
        store.usage(device=device, first=first, last=last),
        store.audit_lines(device),
        views.alert_lines(alerts),
        views.sanction_lines(sanctions),
        now,
    )


async def _alerts(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    _query(request, ())
    open_, recent = await dash.run(_load_alerts, dash.store)
    cleared = [a for a in recent if a.cleared_at is not None][:RECENT_CLEARED]
    return render(
        request,
        "alerts.html",
        open=views.alert_lines(open_),
        cleared=views.alert_lines(cleared),
        failing=sum(1 for a in open_ + cleared if a.delivery_failures),
    )


def _load_alerts(store: FleetStore) -> tuple[list[Alert], list[Alert]]:
    """The open alerts, and the latest alerts of any kind (for the recently cleared)."""
    return store.alerts(open_only=True), store.alerts(open_only=False, limit=4 * RECENT_CLEARED)


async def _sanctions(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    _query(request, ())
    sanctions = await dash.run(dash.store.sanctions)
    return render(request, "sanctions.html", lines=views.sanction_lines(sanctions))


async def _css(request: web.Request) -> web.Response:
    response = web.Response(body=request.app[DASHBOARD].css, content_type="text/css")
    response.charset = "utf-8"
    return response
