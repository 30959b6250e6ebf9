"""The gateway's configuration (TOML), validated at start with errors naming the bad key.

Relative paths are resolved against the directory of the config file. See
deploy/gateway.toml.example and docs/gateway.md for every key.
"""

from __future__ import annotations

import re
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.policy import Policy, PolicyError, parse_policy
from protocol.regions import PROVINCES

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Where and how the gateway listens."""

    host: str = "127.0.0.1"
    port: int = 8443
    backlog: int = 1024
    idempotency_ttl_s: float = 300.0
    # A plain-HTTP listener with GET /v1/health alone, for load balancer probes; off when None.
    probe_host: str = "127.0.0.1"
    probe_port: int | None = None
    # The edges: see gateway.limits and docs/gateway.md.
    max_connections: int = 4096
    max_connections_per_address: int = 256
    handshake_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    idle_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Server certificate and the CAs whose client certificates are accepted."""

    cert: Path
    key: Path
    device_ca: Path
    admin_ca: Path
    device_crl: Path | None = None
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Quota, usage, policy and device-state storage: SQLite (one gateway) or Redis (replicas)."""

    kind: str = "sqlite"
    path: Path | None = None
    url: str | None = None
    refresh_s: float = 2.0
    usage_flush_s: float = 1.0


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """The Dukcapil upstream: adapter kind, URL, timeouts, pooled connections."""

    url: str
    kind: str = "dukcapil-http"
    timeout_s: float = 5.0
    connections: int = 32
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class AntiScrapeConfig:
    """Thresholds of the anti-scraping rules; 0 turns a rule off."""

    window_s: float = 600.0
    sequential_run: int = 3
    pattern_run: int = 4
    prefix_limit: int = 5
    burst_window_s: float = 60.0
    burst_limit: int = 60
    device_burst_limit: int = 10


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """Log files; stderr when unset."""

    access: Path | None = None
    main: Path | None = None
    level: str = "INFO"


@dataclass(frozen=True, slots=True)
class Institution:
    """One institution: its upstream user ID, its local time zone (province) and its policy."""

    id: str
    name: str
    province: str
    upstream_user: str
    upstream_password_file: Path
    policy: Policy


@dataclass(frozen=True, slots=True)
class DevicePin:
    """Optional pinning of a device to an institution and a reader/SAM pair."""

    institution: str | None = None
    reader_id: str | None = None
    sam_id: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The whole configuration."""

    tls: TlsConfig
    upstream: UpstreamConfig
    institutions: dict[str, Institution]
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    antiscrape: AntiScrapeConfig = field(default_factory=AntiScrapeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    devices: dict[str, DevicePin] = field(default_factory=dict)


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a TOML config file."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(str(path), f"cannot read: {err.strerror}") from err
    try:
        data = tomllib.loads(raw.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(str(path), f"not valid TOML: {err}") from err
    return parse_config(data, path.parent)


def parse_config(data: Mapping[str, Any], base_dir: Path) -> GatewayConfig:
    """Validate a parsed config; relative paths are taken from base_dir."""
    top = _Table(data, "", base_dir)
    server = _server(top.table("server", optional=True))
    tls = _tls(top.table("tls"))
    store = _store(top.table("store", optional=True))
    upstream = _upstream(top.table("upstream"))
    antiscrape = _antiscrape(top.table("antiscrape", optional=True))
    logging_ = _logging(top.table("logging", optional=True))
    institutions = _institutions(top.table("institutions"))
    devices = _devices(top.table("devices", optional=True), institutions)
    top.done()
    return GatewayConfig(
        tls=tls,
        upstream=upstream,
        institutions=institutions,
        server=server,
        store=store,
        antiscrape=antiscrape,
        logging=logging_,
        devices=devices,
    )


def _server(t: _Table) -> ServerConfig:
    d = ServerConfig()
    out = ServerConfig(
        host=t.get_str("host", d.host),
        port=t.get_int("port", d.port, 0, 65535),
        backlog=t.get_int("backlog", d.backlog, 1, 65535),
        idempotency_ttl_s=t.get_float("idempotency_ttl_s", d.idempotency_ttl_s, 1.0, 86400.0),
        probe_host=t.get_str("probe_host", d.probe_host),
        probe_port=t.get_int("probe_port", 0, 0, 65535) if t.has("probe_port") else None,
        max_connections=t.get_int("max_connections", d.max_connections, 1, 1_000_000),
        max_connections_per_address=t.get_int(
            "max_connections_per_address", d.max_connections_per_address, 1, 1_000_000
        ),
        handshake_timeout_s=t.get_float("handshake_timeout_s", d.handshake_timeout_s, 0.01, 60.0),
        request_timeout_s=t.get_float("request_timeout_s", d.request_timeout_s, 0.01, 300.0),
        idle_timeout_s=t.get_float("idle_timeout_s", d.idle_timeout_s, 0.01, 86400.0),
    )
    t.done()
    return out


def _tls(t: _Table) -> TlsConfig:
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    version = t.get_str("min_version", "1.3")
    if version not in versions:
        raise ConfigError(t.key("min_version"), 'must be "1.2" or "1.3"')
    crl = t.get_path("device_crl", None)
    out = TlsConfig(
        cert=t.get_path("cert"),
        key=t.get_path("key"),
        device_ca=t.get_path("device_ca"),
        admin_ca=t.get_path("admin_ca"),
        device_crl=crl,
        min_version=versions[version],
    )
    t.done()
    return out


def _store(t: _Table) -> StoreConfig:
    kind = t.get_str("kind", "sqlite")
    if kind not in ("sqlite", "redis"):
        raise ConfigError(t.key("kind"), 'must be "sqlite" or "redis"')
    path = t.get_path("path", None, must_exist=False)
    url = t.get_str("url", None)
    if kind == "sqlite" and path is None:
        raise ConfigError(t.key("path"), "missing (the SQLite database file)")
    if kind == "redis" and (
        url is None or not url.startswith(("redis://", "rediss://", "unix://"))
    ):
        raise ConfigError(t.key("url"), "must be a redis://, rediss:// or unix:// URL")
    out = StoreConfig(
        kind=kind,
        path=path,
        url=url,
        refresh_s=t.get_float("refresh_s", 2.0, 0.05, 3600.0),
        usage_flush_s=t.get_float("usage_flush_s", 1.0, 0.01, 3600.0),
    )
    t.done()
    return out


def _upstream(t: _Table) -> UpstreamConfig:
    kind = t.get_str("kind", "dukcapil-http")
    if kind != "dukcapil-http":
        raise ConfigError(t.key("kind"), 'unknown adapter; known: "dukcapil-http"')
    url = t.get_str("url")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise ConfigError(t.key("url"), "must be an http:// or https:// URL")
    out = UpstreamConfig(
        url=url,
        kind=kind,
        timeout_s=t.get_float("timeout_s", 5.0, 0.01, 300.0),
        connections=t.get_int("connections", 32, 1, 4096),
        ca_file=t.get_path("ca_file", None),
    )
    t.done()
    return out


def _antiscrape(t: _Table) -> AntiScrapeConfig:
    d = AntiScrapeConfig()
    out = AntiScrapeConfig(
        window_s=t.get_float("window_s", d.window_s, 1.0, 86400.0),
        sequential_run=t.get_int("sequential_run", d.sequential_run, 0, 1000),
        pattern_run=t.get_int("pattern_run", d.pattern_run, 0, 1000),
        prefix_limit=t.get_int("prefix_limit", d.prefix_limit, 0, 1000),
        burst_window_s=t.get_float("burst_window_s", d.burst_window_s, 0.1, 86400.0),
        burst_limit=t.get_int("burst_limit", d.burst_limit, 0, 10_000_000),
        device_burst_limit=t.get_int("device_burst_limit", d.device_burst_limit, 0, 10_000_000),
    )
    for key in ("sequential_run", "pattern_run"):
        if getattr(out, key) == 1:
            raise ConfigError(t.key(key), "must be 0 (off) or at least 2")
    t.done()
    return out


def _logging(t: _Table) -> LoggingConfig:
    level = t.get_str("level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(t.key("level"), "must be DEBUG, INFO, WARNING or ERROR")
    out = LoggingConfig(
        access=t.get_path("access", None, must_exist=False),
        main=t.get_path("main", None, must_exist=False),
        level=level,
    )
    t.done()
    return out


def _institutions(t: _Table) -> dict[str, Institution]:
    out: dict[str, Institution] = {}
    for inst_id in t.names():
        if not _ID.match(inst_id):
            raise ConfigError(t.key("<id>"), "institution ids are 1 to 64 of A-Z a-z 0-9 . _ -")
        it = t.table(inst_id)
        province = it.get_str("province")
        if province not in PROVINCES:
            raise ConfigError(it.key("province"), 'unknown province code (two digits, e.g. "33")')
        user = it.get_str("upstream_user")
        password_file = it.get_path("upstream_password_file")
        policy_doc = {
            k: it.raw(k)
            for k in ("elements", "poc_approved", "active", "user_active", "sanctions")
            if it.has(k)
        }
        try:
            policy = parse_policy(policy_doc, it.where)
        except PolicyError as err:
            raise ConfigError(err.key, err.reason) from err
        out[inst_id] = Institution(
            id=inst_id,
            name=it.get_str("name", inst_id),
            province=province,
            upstream_user=user,
            upstream_password_file=password_file,
            policy=policy,
        )
        it.done()
    if not out:
        raise ConfigError("institutions", "at least one institution is needed")
    return out


def _devices(t: _Table, institutions: dict[str, Institution]) -> dict[str, DevicePin]:
    out: dict[str, DevicePin] = {}
    for device_id in t.names():
        dt_ = t.table(device_id)
        inst = dt_.get_str("institution", None)
        if inst is not None and inst not in institutions:
            raise ConfigError(dt_.key("institution"), "not an institution of this config")
        out[device_id] = DevicePin(
            institution=inst,
            reader_id=dt_.get_str("reader_id", None),
            sam_id=dt_.get_str("sam_id", None),
        )
        dt_.done()
    return out


def read_secret(path: Path, key: str) -> str:
    """The first line of a secret file (an upstream password), or ConfigError naming `key`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(key, "cannot read the secret file") from err
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise ConfigError(key, "the secret file is empty")
    return secret


class _Table:
    """Typed access to one TOML table, tracking which keys were read."""

    def __init__(self, data: Mapping[str, Any], where: str, base_dir: Path) -> None:
        self._data = data
        self.where = where
        self._base = base_dir
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def names(self) -> list[str]:
        self._seen.update(self._data)
        return list(self._data)

    def has(self, name: str) -> bool:
        return name in self._data

    def raw(self, name: str) -> Any:
        self._seen.add(name)
        return self._data[name]

    def _get(self, name: str, default: Any) -> Any:
        self._seen.add(name)
        if name not in self._data:
            if default is _MISSING:
                raise ConfigError(self.key(name), "missing")
            return default
        return self._data[name]

    def table(self, name: str, optional: bool = False) -> _Table:
        value = self._get(name, {} if optional else _MISSING)
        if not isinstance(value, Mapping):
            raise ConfigError(self.key(name), "must be a table")
        return _Table(value, self.key(name), self._base)

    def get_str(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(self.key(name), "must be a non-empty string")
        return value

    def get_int(self, name: str, default: Any, lo: int, hi: int) -> int:
        value = self._get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ConfigError(self.key(name), f"must be an integer from {lo} to {hi}")
        return value

    def get_float(self, name: str, default: Any, lo: float, hi: float) -> float:
        value = self._get(name, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
            raise ConfigError(self.key(name), f"must be a number from {lo} to {hi}")
        return float(value)

    def get_path(self, name: str, default: Any = _MISSING, must_exist: bool = True) -> Any:
        value = self.get_str(name, default)
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute():
            path = self._base / path
        if must_exist and not path.exists():
            raise ConfigError(self.key(name), "file not found")
        return path

    def done(self) -> None:
        unknown = sorted(k for k in self._data if k not in self._seen)
        if unknown:
            raise ConfigError(self.key(unknown[0]), "unknown key")
