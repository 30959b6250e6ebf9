"""The fleet service's sections of fleet.toml: [service], [alerts], [webhook], [dashboard].

[service]                      # `kiosk-fleet serve`: MQTT v5 shared-subscription ingest
group = "fleet"                # the $share group; replicas of one group split the messages
client_id = "fleet-service-1"  # stable per replica: its persistent session at the broker
cert_file = "pki/fleet-service.pem"   # its own certificate (admin CA, CN fleet-service);
key_file = "pki/fleet-service.key"    # default: the [broker] ones
batch_size = 500               # messages per store transaction at most
batch_ms = 5.0                 # how long a batch waits to fill
session_expiry = 86400         # seconds the broker keeps the session (and queues) away

[alerts]
interval = 30.0                # seconds between sweeps (lost, certificates, gateway polls)
lost_after_min = 15            # lost, offline or silent for longer than this
cert_days = 14                 # certificate expiring within this many days
deactivation_pending_min = 10  # a deactivation (a desired version) not applied by then
quota_ratio = 0.9              # an institution's daily quota this much used
scraping_jump = 50             # anti-scraping refusals more than in the previous sweep
balikan_ratio = 0.9            # data balikan accepted below this share of FOUND look-ups
balikan_min_found = 20         # ... once at least this many were FOUND
balikan_days = 7               # ... over this many local days up to today

[webhook]                      # optional: each raise and clear as a JSON POST
url = "https://alerts.example/hook"   # http:// only to a loopback address
ca_file = "pki/alerts-ca.pem"  # optional: trust this CA instead of the system's
timeout = 5.0
max_attempts = 6               # retried with exponential backoff, failures recorded

[dashboard]                    # optional: the read-only dashboard
listen = "127.0.0.1:8890"      # loopback; any other address needs admin mTLS:
# cert_file = "pki/dashboard.pem", key_file = "pki/dashboard.key",
# client_ca_file = "pki/admin-ca.pem"
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from common.config import ConfigFile
from protocol.strict import Reader

SECTIONS = ("service", "alerts", "webhook", "dashboard")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")  # a $share group or client id: one topic level
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})\Z")


def _default_client_id() -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40] or "host"
    return f"fleet-service-{host}"


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """[service]."""

    group: str = "fleet"
    client_id: str = field(default_factory=_default_client_id)
    cert_file: Path | None = None  # None: the [broker] certificate
    key_file: Path | None = None
    batch_size: int = 500
    batch_ms: float = 5.0
    session_expiry: int = 86400
    health_days: int = 30


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """[alerts]."""

    interval: float = 30.0
    lost_after_min: float = 15.0
    cert_days: int = 14
    deactivation_pending_min: float = 10.0
    quota_ratio: float = 0.9
    scraping_jump: int = 50
    balikan_ratio: float = 0.9
    balikan_min_found: int = 20
    balikan_days: int = 7


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """[webhook]."""

    url: str
    ca_file: Path | None = None
    timeout: float = 5.0
    max_attempts: int = 6


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """[dashboard]: where it listens; TLS files (admin mTLS) unless on loopback."""

    host: str = "127.0.0.1"
    port: int = 8890
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None

    @property
    def tls(self) -> bool:
        """True when served over TLS with admin client certificates."""
        return self.cert_file is not None


@dataclass(frozen=True, slots=True)
class ServiceSections:
    """What fleet.toml says about the service; absent sections are their defaults (no webhook,
    no dashboard)."""

    service: ServiceSettings = field(default_factory=ServiceSettings)
    alerts: AlertSettings = AlertSettings()
    webhook: WebhookSettings | None = None
    dashboard: DashboardSettings | None = None


def parse_service_sections(top: Reader, file: ConfigFile) -> ServiceSections:
    """Read [service], [alerts], [webhook] and [dashboard] (errors name the key)."""
    s = top.nested("service", {})
    cert, key = s.text("cert_file", None), s.text("key_file", None)
    if (cert is None) != (key is None):
        raise s.error("key_file" if key is None else "cert_file", "give cert_file and key_file")
    service = ServiceSettings(
        group=s.text("group", "fleet", _NAME),
        client_id=s.text("client_id", "", _NAME) or _default_client_id(),
        cert_file=None if cert is None else file.path(cert),
        key_file=None if key is None else file.path(key),
        batch_size=s.integer("batch_size", 500, 1, 10_000),
        batch_ms=s.number("batch_ms", 5.0, 0.0, 1000.0),
        session_expiry=s.integer("session_expiry", 86400, 60, 30 * 86400),
        health_days=s.integer("health_days", 30, 1, 3650),
    )
    s.done()

    a = top.nested("alerts", {})
    alerts = AlertSettings(
        interval=a.seconds("interval", 30.0, 3600.0),
        lost_after_min=a.number("lost_after_min", 15.0, 0.0, 100_000.0),
        cert_days=a.integer("cert_days", 14, 0, 3650),
        deactivation_pending_min=a.number("deactivation_pending_min", 10.0, 0.0, 100_000.0),
        quota_ratio=a.number("quota_ratio", 0.9, 0.01, 1.0),
        scraping_jump=a.integer("scraping_jump", 50, 1, 10_000_000),
        balikan_ratio=a.number("balikan_ratio", 0.9, 0.0, 1.0),
        balikan_min_found=a.integer("balikan_min_found", 20, 1, 10_000_000),
        balikan_days=a.integer("balikan_days", 7, 1, 366),
    )
    a.done()

    w = top.nested("webhook", None)
    webhook = None
    if w is not None:
        url = w.text("url")
        _check_url(w, url)
        ca = w.text("ca_file", None)
        webhook = WebhookSettings(
            url=url,
            ca_file=None if ca is None else file.path(ca),
            timeout=w.seconds("timeout", 5.0, 300.0),
            max_attempts=w.integer("max_attempts", 6, 1, 100),
        )
        w.done()

    d = top.nested("dashboard", None)
    dashboard = None if d is None else _dashboard(d, file)
    return ServiceSections(service, alerts, webhook, dashboard)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(w: Reader, url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise w.error("url", "is not a URL") from None
    if not host or parts.scheme not in ("https", "http") or parts.username or parts.password:
        raise w.error("url", "must be an https:// URL with a host (no user or password)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise w.error("url", "http:// only to a loopback address; use https://")


def _dashboard(d: Reader, file: ConfigFile) -> DashboardSettings:
    listen = d.text("listen", "127.0.0.1:8890")
    m = _LISTEN.match(listen)
    if m is None or not 0 <= int(m.group(2)) <= 65535:
        raise d.error("listen", "must be HOST:PORT (127.0.0.1:8890)")
    host, port = m.group(1).strip("[]"), int(m.group(2))
    names = ("cert_file", "key_file", "client_ca_file")
    given = {n: d.text(n, None) for n in names}
    d.done()
    if any(given.values()) and not all(given.values()):
        missing = next(n for n in names if not given[n])
        raise d.error(missing, "give cert_file, key_file and client_ca_file together")
    if not all(given.values()):
        if not _is_loopback(host):
            raise d.error(
                "listen", "a non-loopback address needs cert_file, key_file and client_ca_file"
            )
        return DashboardSettings(host, port)
    cert, key, ca = (file.path(str(given[n])) for n in names)
    return DashboardSettings(host, port, cert, key, ca)


def render_service_sections(
    *,
    client_id: str,
    cert_file: Path,
    key_file: Path,
    dashboard_listen: str | None = "127.0.0.1:8890",
    webhook_url: str | None = None,
) -> str:
    """[service] (and [dashboard], [webhook]) text to append to a fleet.toml (the simulation)."""
    lines = [
        "",
        "[service]",
        f'client_id = "{client_id}"',
        f'cert_file = "{cert_file}"',
        f'key_file = "{key_file}"',
    ]
    if dashboard_listen is not None:
        lines += ["", "[dashboard]", f'listen = "{dashboard_listen}"']
    if webhook_url is not None:
        lines += ["", "[webhook]", f'url = "{webhook_url}"']
    return "\n".join(lines) + "\n"
