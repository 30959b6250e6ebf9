"""The fleet service's read-only web dashboard (aiohttp + Jinja2, server-rendered, no scripts).

`dashboard_app(store)` builds the application; `serve_dashboard(app_or_store, listen, tls)`
serves it on loopback, or on another address only behind admin mTLS (`DashboardTls`).
"""

from fleet.dashboard.app import dashboard_app
from fleet.dashboard.serve import DashboardRunner, DashboardTls, serve_dashboard

__all__ = ["DashboardRunner", "DashboardTls", "dashboard_app", "serve_dashboard"]
