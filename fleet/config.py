"""fleet.toml: the admin's signing key, the broker's admin listener and the gateway's admin API.

    [admin]
    signing_key = "keys/admin-ed25519.pem"   # Ed25519 private key (PKCS#8 PEM); kiosks pin
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

Relative paths are taken from the file's folder.
"""

from __future__ import annotations

import re
import ssl
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.errors import TlsFileError
from common.tls import client_context
from fleet.errors import EXIT_USAGE, FleetError

_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")


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
    """The whole fleet.toml."""

    signing_key: Path
    broker: BrokerConfig
    name: str | None = None
    gateway: GatewayConfig | None = None
    connect_timeout: float = 5.0
    reported_timeout: float = 10.0


def _error(key: str, reason: str, source: str) -> FleetError:
    return FleetError(f"{source}: {key}: {reason}", EXIT_USAGE)


def parse_config(data: dict[str, Any], base: Path, source: str = "fleet.toml") -> FleetConfig:
    """Validate a parsed fleet.toml (FleetError with exit code 2 naming the key)."""
    unknown = sorted(set(data) - {"admin", "broker", "gateway", "timeouts"})
    if unknown:
        raise _error(unknown[0], "unknown section", source)

    def table(name: str, required: bool) -> dict[str, Any]:
        value = data.get(name)
        if value is None:
            if required:
                raise _error(name, "section is required", source)
            return {}
        if not isinstance(value, dict):
            raise _error(name, "must be a table", source)
        return value

    def text(t: dict[str, Any], section: str, key: str, default: str | None = None) -> str:
        value = t.get(key, default)
        if not isinstance(value, str) or not value:
            raise _error(f"{section}.{key}", "must be a non-empty string", source)
        return value

    def path(t: dict[str, Any], section: str, key: str, default: Path | None = None) -> Path:
        if key not in t and default is not None:
            return default
        p = Path(text(t, section, key))
        return p if p.is_absolute() else base / p

    def number(t: dict[str, Any], section: str, key: str, default: float) -> float:
        value = t.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 3600:
            raise _error(f"{section}.{key}", "must be a number of seconds (0 to 3600)", source)
        return float(value)

    def only(t: dict[str, Any], section: str, keys: set[str]) -> None:
        extra = sorted(set(t) - keys)
        if extra:
            raise _error(f"{section}.{extra[0]}", "unknown key", source)

    admin = table("admin", True)
    only(admin, "admin", {"signing_key", "name"})
    name = admin.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
        raise _error("admin.name", "must be 1 to 64 of A-Z a-z 0-9 . _ : -", source)

    b = table("broker", True)
    only(b, "broker", {"host", "port", "ca_file", "cert_file", "key_file"})
    port = b.get("port", 8884)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise _error("broker.port", "must be a port number", source)
    broker_tls = TlsFiles(
        path(b, "broker", "ca_file"), path(b, "broker", "cert_file"), path(b, "broker", "key_file")
    )
    broker = BrokerConfig(text(b, "broker", "host"), port, broker_tls)

    gateway = None
    g = table("gateway", False)
    if g:
        only(g, "gateway", {"url", "ca_file", "cert_file", "key_file"})
        url = text(g, "gateway", "url").rstrip("/")
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or parts.query:
            raise _error("gateway.url", "must be an https:// URL with a host", source)
        gateway = GatewayConfig(
            url,
            TlsFiles(
                path(g, "gateway", "ca_file", broker_tls.ca_file),
                path(g, "gateway", "cert_file", broker_tls.cert_file),
                path(g, "gateway", "key_file", broker_tls.key_file),
            ),
        )

    t = table("timeouts", False)
    only(t, "timeouts", {"connect", "reported"})
    return FleetConfig(
        signing_key=path(admin, "admin", "signing_key"),
        broker=broker,
        name=name,
        gateway=gateway,
        connect_timeout=number(t, "timeouts", "connect", 5.0),
        reported_timeout=number(t, "timeouts", "reported", 10.0),
    )


def load_config(path: Path) -> FleetConfig:
    """Read and validate fleet.toml."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise FleetError(f"{path}: cannot be read ({err.strerror})", EXIT_USAGE) from err
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise FleetError(f"{path}: not valid TOML ({err})", EXIT_USAGE) from err
    return parse_config(data, path.resolve().parent, str(path))


def render_config(
    *,
    signing_key: Path,
    broker_host: str,
    broker_port: int,
    ca_file: Path,
    cert_file: Path,
    key_file: Path,
    gateway_url: str | None = None,
    name: str | None = None,
) -> str:
    """A fleet.toml text (the simulation writes one for `kiosk-fleet --config`)."""
    lines = ["[admin]", f'signing_key = "{signing_key}"']
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
    return "\n".join(lines) + "\n"
