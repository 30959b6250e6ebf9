"""fleet.toml: the admin's signing key, the broker's admin listener and the gateway's admin API.

    [admin]                                  # optional: a read-only admin has no signing key
    signing_key = "keys/admin-ed25519.pem"   # Ed25519 private key (PKCS#8 PEM); kiosks pin
    # public_key = "keys/admin-ed25519.pub"  # read-only: verifies retained documents (status)
    name = "fleet-admin"                     # optional: the certificate's CN by default

    [broker]                                 # the admin listener of mosquitto
    host = "127.0.0.1"
    port = 8884
    ca_file = "pki/server-ca.pem"            # trusts the broker's certificate
    cert_file = "pki/admin.pem"              # admin certificate (admin CA)
    key_file = "pki/admin.key"

    [gateway]                                # optional: revoke/reinstate devices there too
    url = "https://127.0.0.1:8443"
    # ca_file, cert_file, key_file default to the [broker] ones

    [timeouts]
    connect = 5.0
    reported = 10.0

    [store]                                  # optional: the fleet service's history
    path = "fleet.sqlite3"                   # SQLite (WAL), the default
    # dsn = "postgresql://fleet@db.example/fleet"   # PostgreSQL instead (password in ~/.pgpass)

    [service], [alerts], [webhook], [dashboard]: `kiosk-fleet serve`, see fleet/service/settings.py
    [ca], [ca.token], [est]: the device CA and its EST server, see fleet/ca/settings.py

Relative paths are taken from the file's folder.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.config import ConfigFile, read_toml
from common.errors import TlsFileError
from common.tls import client_context
from fleet.ca.settings import SECTIONS as CA_SECTIONS
from fleet.ca.settings import CaSettings, EstSettings, parse_ca, parse_est
from fleet.errors import ConfigError, FleetError
from fleet.evidence.settings import SECTIONS as EVIDENCE_SECTIONS
from fleet.evidence.settings import EvidenceSettings, parse_evidence
from fleet.service.settings import SECTIONS as SERVICE_SECTIONS
from fleet.service.settings import ServiceSections, parse_service_sections
from fleet.store import StoreConfig
from protocol.strict import Reader

_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_DSN = re.compile(r"^postgres(ql)?://[^\s]{1,500}\Z")
_TLS_KEYS = ("ca_file", "cert_file", "key_file")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A CA to trust and a client certificate with its key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def context(self) -> ssl.SSLContext:
        """A TLS 1.2+ client context (FleetError if the files do not load)."""
        try:
            return client_context(self.ca_file, self.cert_file, self.key_file)
        except TlsFileError as err:
            raise FleetError(f"cannot load TLS files: {err}") from err


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """[broker]."""

    host: str
    port: int
    tls: TlsFiles


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """[gateway]."""

    url: str
    tls: TlsFiles


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """The whole fleet.toml (`source`: the file it came from, for messages)."""

    signing_key: Path | None
    broker: BrokerConfig
    name: str | None = None
    gateway: GatewayConfig | None = None
    connect_timeout: float = 5.0
    reported_timeout: float = 10.0
    store: StoreConfig = field(default_factory=lambda: StoreConfig(Path("fleet.sqlite3")))
    service: ServiceSections = field(default_factory=ServiceSections)  # fleet/service/settings.py
    source: str = "fleet.toml"
    public_key: Path | None = None
    ca: CaSettings | None = None  # fleet/ca/settings.py
    est: EstSettings | None = None
    evidence: EvidenceSettings | None = None  # fleet/evidence/settings.py


def parse_config(data: dict[str, Any], base: Path, source: str = "fleet.toml") -> FleetConfig:
    """Validate a parsed fleet.toml (ConfigError, exit code 2, naming the key)."""
    return _parse(ConfigFile(data, base, source, ConfigError))


def load_config(path: Path) -> FleetConfig:
    """Read and validate fleet.toml."""
    return _parse(read_toml(path, ConfigError))


def _parse(file: ConfigFile) -> FleetConfig:
    known = {"admin", "broker", "gateway", "timeouts", "store", *SERVICE_SECTIONS, *CA_SECTIONS}
    known |= set(EVIDENCE_SECTIONS)
    unknown = sorted(set(file.data) - known)
    if unknown:
        raise file.fail(unknown[0], "unknown section")
    if "broker" not in file.data:
        raise file.fail("broker", "section is required")
    top = Reader(file.data, error=file.fail)

    admin = top.nested("admin", {})
    key_text = admin.text("signing_key", None)
    signing_key = None if key_text is None else file.path(key_text)
    public_text = admin.text("public_key", None)
    public_key = None if public_text is None else file.path(public_text)
    name = admin.text("name", None, _NAME)
    admin.done()

    b = top.nested("broker")
    port = b.integer("port", 8884, 1, 65535)
    broker_tls = TlsFiles(*(file.path(b.text(key)) for key in _TLS_KEYS))
    broker = BrokerConfig(b.text("host"), port, broker_tls)
    b.done()

    # An empty [gateway] is as good as none.
    g = None if top.raw("gateway", None) == {} else top.nested("gateway", None)
    gateway = None if g is None else _gateway(g, file, broker_tls)

    st = top.nested("store", {})
    dsn = st.text("dsn", None, _DSN)
    store = StoreConfig(file.path(st.text("path", "fleet.sqlite3")), dsn)
    st.done()

    t = top.nested("timeouts", {})
    config = FleetConfig(
        signing_key=signing_key,
        broker=broker,
        name=name,
        gateway=gateway,
        connect_timeout=t.seconds("connect", 5.0, 3600.0),
        reported_timeout=t.seconds("reported", 10.0, 3600.0),
        store=store,
        service=parse_service_sections(top, file),
        source=file.source or "fleet.toml",
        public_key=public_key,
        ca=parse_ca(top, file),
        est=parse_est(top, file),
        evidence=parse_evidence(top, file),
    )
    t.done()
    top.done()
    return config


def _gateway(g: Reader, file: ConfigFile, broker: TlsFiles) -> GatewayConfig:
    url = g.text("url").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query:
        raise g.error("url", "must be an https:// URL with a host")
    given = [g.text(key, None) for key in _TLS_KEYS]
    defaults = (broker.ca_file, broker.cert_file, broker.key_file)
    tls = TlsFiles(
        *(d if t is None else file.path(t) for t, d in zip(given, defaults, strict=True))
    )
    g.done()
    return GatewayConfig(url, tls)


def render_config(
    *,
    signing_key: Path | None,
    broker_host: str,
    broker_port: int,
    ca_file: Path,
    cert_file: Path,
    key_file: Path,
    gateway_url: str | None = None,
    name: str | None = None,
    store_path: Path | None = None,
    public_key: Path | None = None,
) -> str:
    """A fleet.toml text (the simulation writes one for `kiosk-fleet --config`)."""
    lines = ["[admin]"]
    if signing_key is not None:
        lines.append(f'signing_key = "{signing_key}"')
    if public_key is not None:
        lines.append(f'public_key = "{public_key}"')
    if name:
        lines.append(f'name = "{name}"')
    lines += [
        "",
        "[broker]",
        f'host = "{broker_host}"',
        f"port = {broker_port}",
        f'ca_file = "{ca_file}"',
        f'cert_file = "{cert_file}"',
        f'key_file = "{key_file}"',
    ]
    if gateway_url:
        lines += ["", "[gateway]", f'url = "{gateway_url}"']
    if store_path is not None:
        lines += ["", "[store]", f'path = "{store_path}"']
    return "\n".join(lines) + "\n"
