"""The gateway's configuration (TOML), validated at start with errors naming the bad key.

Relative paths are resolved against the directory of the config file. See
deploy/gateway.toml.example and docs/gateway.md for every key.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import ConfigFile, read_toml
from gateway.errors import ConfigError
from gateway.policy import Policy, read_policy
from protocol.regions import PROVINCES
from protocol.strict import REQUIRED, Reader

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Where and how the gateway listens."""

    host: str = "127.0.0.1"
    port: int = 8443
    backlog: int = 1024
    replay_window_s: float = 60.0  # sealed answers replayed by request id (the kiosk's retries)
    replay_max: int = 100_000  # sealed answers kept in memory at most, oldest dropped
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
    admin_crl: Path | None = None  # with device_crl: new handshakes are checked against both
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    read_only_admins: frozenset[str] = frozenset()  # admin-CA CNs that may only read


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Quota, usage, policy and device-state storage: SQLite (one gateway) or Redis (replicas)."""

    kind: str = "sqlite"
    path: Path | None = None  # redis: this replica's own file (its copy of the revocations)
    url: str | None = None
    secret_file: Path | None = None  # redis: the replicas' shared key of the replay MACs
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
    return _parse(read_toml(path, ConfigError))


def parse_config(data: Mapping[str, Any], base_dir: Path) -> GatewayConfig:
    """Validate a parsed config; relative paths are taken from base_dir."""
    return _parse(ConfigFile(dict(data), base_dir, error=ConfigError))


def _parse(file: ConfigFile) -> GatewayConfig:
    top = Reader(file.data, error=file.fail)
    server = _server(top.nested("server", {}))
    tls = _tls(top.nested("tls"), file)
    store = _store(top.nested("store", {}), file)
    upstream = _upstream(top.nested("upstream"), file)
    antiscrape = _antiscrape(top.nested("antiscrape", {}))
    logging_ = _logging(top.nested("logging", {}), file)
    institutions = _institutions(top.nested("institutions"), file)
    devices = _devices(top.nested("devices", {}), institutions)
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


def _path(
    t: Reader, file: ConfigFile, key: str, default: Any = REQUIRED, must_exist: bool = True
) -> Any:
    """A file named by `key` (relative to the config file's folder), or `default` when absent."""
    text = t.text(key, default)
    if text is None:
        return None
    path = file.path(text)
    if must_exist and not path.exists():
        raise t.error(key, "file not found")
    return path


def _server(t: Reader) -> ServerConfig:
    d = ServerConfig()
    out = ServerConfig(
        host=t.text("host", d.host),
        port=t.integer("port", d.port, 0, 65535),
        backlog=t.integer("backlog", d.backlog, 1, 65535),
        replay_window_s=t.number("replay_window_s", d.replay_window_s, 1.0, 3600.0),
        replay_max=t.integer("replay_max", d.replay_max, 1, 10_000_000),
        probe_host=t.text("probe_host", d.probe_host),
        probe_port=t.integer("probe_port", None, 0, 65535),
        max_connections=t.integer("max_connections", d.max_connections, 1, 1_000_000),
        max_connections_per_address=t.integer(
            "max_connections_per_address", d.max_connections_per_address, 1, 1_000_000
        ),
        handshake_timeout_s=t.number("handshake_timeout_s", d.handshake_timeout_s, 0.01, 60.0),
        request_timeout_s=t.number("request_timeout_s", d.request_timeout_s, 0.01, 300.0),
        idle_timeout_s=t.number("idle_timeout_s", d.idle_timeout_s, 0.01, 86400.0),
    )
    t.done()
    return out


def _tls(t: Reader, file: ConfigFile) -> TlsConfig:
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    out = TlsConfig(
        cert=_path(t, file, "cert"),
        key=_path(t, file, "key"),
        device_ca=_path(t, file, "device_ca"),
        admin_ca=_path(t, file, "admin_ca"),
        device_crl=_path(t, file, "device_crl", None),
        admin_crl=_path(t, file, "admin_crl", None),
        min_version=versions[t.choice("min_version", tuple(versions), "1.3")],
        read_only_admins=frozenset(t.texts("read_only_admins", [])),
    )
    t.done()
    return out


def _store(t: Reader, file: ConfigFile) -> StoreConfig:
    kind = t.choice("kind", ("sqlite", "redis"), "sqlite")
    path = _path(t, file, "path", None, must_exist=False)
    url = t.text("url", None)
    secret = _path(t, file, "secret_file", None)
    if path is None:
        raise t.error("path", "missing (the SQLite database file)")
    if kind == "redis" and (
        url is None or not url.startswith(("redis://", "rediss://", "unix://"))
    ):
        raise t.error("url", "must be a redis://, rediss:// or unix:// URL")
    if kind == "redis" and secret is None:
        raise t.error("secret_file", "missing (the replicas' shared replay MAC key)")
    out = StoreConfig(
        kind=kind,
        path=path,
        url=url,
        secret_file=secret,
        refresh_s=t.number("refresh_s", 2.0, 0.05, 3600.0),
        usage_flush_s=t.number("usage_flush_s", 1.0, 0.01, 3600.0),
    )
    t.done()
    return out


def _upstream(t: Reader, file: ConfigFile) -> UpstreamConfig:
    kind = t.choice("kind", ("dukcapil-http",), "dukcapil-http")
    url = t.text("url")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise t.error("url", "must be an http:// or https:// URL")
    out = UpstreamConfig(
        url=url,
        kind=kind,
        timeout_s=t.number("timeout_s", 5.0, 0.01, 300.0),
        connections=t.integer("connections", 32, 1, 4096),
        ca_file=_path(t, file, "ca_file", None),
    )
    t.done()
    return out


def _antiscrape(t: Reader) -> AntiScrapeConfig:
    d = AntiScrapeConfig()
    out = AntiScrapeConfig(
        window_s=t.number("window_s", d.window_s, 1.0, 86400.0),
        sequential_run=t.integer("sequential_run", d.sequential_run, 0, 1000),
        pattern_run=t.integer("pattern_run", d.pattern_run, 0, 1000),
        prefix_limit=t.integer("prefix_limit", d.prefix_limit, 0, 1000),
        burst_window_s=t.number("burst_window_s", d.burst_window_s, 0.1, 86400.0),
        burst_limit=t.integer("burst_limit", d.burst_limit, 0, 10_000_000),
        device_burst_limit=t.integer("device_burst_limit", d.device_burst_limit, 0, 10_000_000),
    )
    for key in ("sequential_run", "pattern_run"):
        if getattr(out, key) == 1:
            raise t.error(key, "must be 0 (off) or at least 2")
    t.done()
    return out


def _logging(t: Reader, file: ConfigFile) -> LoggingConfig:
    level = t.text("level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise t.error("level", "must be DEBUG, INFO, WARNING or ERROR")
    out = LoggingConfig(
        access=_path(t, file, "access", None, must_exist=False),
        main=_path(t, file, "main", None, must_exist=False),
        level=level,
    )
    t.done()
    return out


def _institutions(t: Reader, file: ConfigFile) -> dict[str, Institution]:
    out: dict[str, Institution] = {}
    for inst_id in t.names():
        if not _ID.match(inst_id):
            raise t.error("<id>", "institution ids are 1 to 64 of A-Z a-z 0-9 . _ -")
        it = t.nested(inst_id)
        province = it.text("province")
        if province not in PROVINCES:
            raise it.error("province", 'unknown province code (two digits, e.g. "33")')
        out[inst_id] = Institution(
            id=inst_id,
            name=it.text("name", inst_id),
            province=province,
            upstream_user=it.text("upstream_user"),
            upstream_password_file=_path(it, file, "upstream_password_file"),
            policy=read_policy(it),
        )
        it.done()
    if not out:
        raise file.fail("institutions", "at least one institution is needed")
    return out


def _devices(t: Reader, institutions: dict[str, Institution]) -> dict[str, DevicePin]:
    out: dict[str, DevicePin] = {}
    for device_id in t.names():
        dt_ = t.nested(device_id)
        inst = dt_.text("institution", None)
        if inst is not None and inst not in institutions:
            raise dt_.error("institution", "not an institution of this config")
        out[device_id] = DevicePin(
            institution=inst,
            reader_id=dt_.text("reader_id", None),
            sam_id=dt_.text("sam_id", None),
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
