"""[balikan] of agent.toml: the institution's service for data balikan (absent: no balikan).

```toml
[balikan]
url = "https://layanan.perpus.example:8443/v1/members"   # the institution's service (HTTPS)
ca_file = "institution-ca.pem"         # the CA of its server certificate
cert_file = "kiosk.pem"                # this kiosk's client certificate (default: [gateway]'s)
key_file = "kiosk.key"                 # and its key (default: [gateway]'s)
elements = ["nik", "nama_lengkap"]    # the elements the PKS lets the kiosk hand over
label_id = "Nomor anggota perpustakaan"
label_en = "Library member number"
timeout = 5.0                          # the institution's answer, connection included
return_attempts = 3                    # tries of the gateway's returns route, in the session
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from common.config import ConfigFile
from edge_agent.errors import ConfigError
from protocol.elements import DataElement, parse_elements
from protocol.strict import Reader

_LABEL_MAX = 60


@dataclass(frozen=True, slots=True)
class BalikanConfig:
    """[balikan]: where the institution's service is, how to reach it, what it may receive."""

    url: str
    ca_file: Path
    elements: tuple[DataElement, ...]
    cert_file: Path | None = None  # None: the [gateway] certificate and key
    key_file: Path | None = None
    label_id: str = "Nomor Anda di instansi"
    label_en: str = "Your number at the institution"
    connect_timeout: float = 3.0
    timeout: float = 5.0
    return_attempts: int = 3


def parse_balikan(t: Reader | None, file: ConfigFile) -> BalikanConfig | None:
    """The [balikan] section, or None when it is absent (ConfigError naming the key)."""
    if t is None:
        return None
    url = t.text("url")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError when out of range
    except ValueError as err:
        raise t.error("url", "is not a valid URL") from err
    if parts.scheme != "https" or not parts.hostname:
        raise t.error("url", "must be an https:// URL with a host (the closed network, mTLS)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise t.error("url", "must have no user, query or fragment")
    names = t.texts("elements", min_items=1)
    try:
        elements = parse_elements(names)
    except ValueError as err:
        raise t.error("elements", str(err)) from err
    cert, key = t.text("cert_file", None), t.text("key_file", None)
    if (cert is None) != (key is None):
        missing = "key_file" if key is None else "cert_file"
        raise t.error(missing, "give cert_file and key_file both, or neither")
    d = BalikanConfig("-", Path(), ())
    config = BalikanConfig(
        url=url,
        ca_file=file.path(t.text("ca_file")),
        elements=tuple(e for e in DataElement if e in elements),
        cert_file=None if cert is None else file.path(cert),
        key_file=None if key is None else file.path(key),
        label_id=_label(t, "label_id", d.label_id),
        label_en=_label(t, "label_en", d.label_en),
        connect_timeout=t.seconds("connect_timeout", d.connect_timeout, 60.0),
        timeout=t.seconds("timeout", d.timeout, 120.0),
        return_attempts=t.integer("return_attempts", d.return_attempts, 1, 5),
    )
    t.done()
    return config


def _label(t: Reader, key: str, default: str) -> str:
    text = t.text(key, default)
    if len(text) > _LABEL_MAX or not text.isprintable():
        raise t.error(key, f"must be printable text of at most {_LABEL_MAX} characters")
    return text


def check_balikan_files(config: BalikanConfig | None, *, source: str = "agent.toml") -> None:
    """The files [balikan] names exist (ConfigError naming the key)."""
    if config is None:
        return
    for key, path in (
        ("ca_file", config.ca_file),
        ("cert_file", config.cert_file),
        ("key_file", config.key_file),
    ):
        if path is not None and not path.is_file():
            raise ConfigError(f"balikan.{key}", f"file not found: {path}", source)
