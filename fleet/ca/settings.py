"""The device CA's and the EST server's sections of fleet.toml: [ca], [ca.token], [est].

[ca]
cert_file = "ca/device-ca.pem"        # the device CA (kiosk certificates)
key_label = "device-ca"               # its key in the [ca.token] token, or:
# key_file = "ca/device-ca.key"       # a software key (PEM, tests only)
admin_cert_file = "ca/admin-ca.pem"   # optional: the admin CA (technicians, admins)
admin_key_label = "admin-ca"          # or admin_key_file; neither: technicians are checked
                                      # against admin_cert_file, persons issued elsewhere
days = 30                             # life of a kiosk certificate (at least 0.0002: 17 s, demo)
person_days = 365                     # of a technician's or an admin's
crl_file = "ca/device-crl.pem"        # written on every revocation (PEM)
admin_crl_file = "ca/admin-crl.pem"   # of the admin CA (when it is here)
crl_days = 7                          # nextUpdate of a CRL
key_origin = "any"                    # or "token-claimed" (fleet/ca/csr.py)
broker_pid_file = "/run/mosquitto/mosquitto.pid"   # optional: SIGHUP it after a new CRL

[ca.token]                            # the PKCS#11 token holding the CA keys
module = "/usr/lib/softhsm/libsofthsm2.so"
label = "fleet-ca"
pin_file = "ca/token.pin"

[est]                                 # EST (RFC 7030) on the fleet service
listen = "127.0.0.1:8445"
cert_file = "pki/est.pem"             # its server certificate (kiosks trust its CA)
key_file = "pki/est.key"
trust_file = "pki/server-ca.pem"      # optional: the chain kiosks are told to trust
token_minutes = 15                    # life of an enrolment token (at most 15)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from common.config import ConfigFile
from fleet.ca.csr import KEY_ORIGIN_POLICIES
from protocol.strict import Reader

SECTIONS = ("ca", "est")
_LABEL = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})\Z")
MAX_TOKEN_MINUTES = 15


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """[ca.token]: a PKCS#11 module, the token's label, its user PIN's file."""

    module: Path
    label: str
    pin_file: Path


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where one CA's key is: a label in the token, or a PEM file (tests)."""

    label: str | None = None
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class CaSettings:
    """[ca]."""

    cert_file: Path
    key: KeySource
    token: TokenSettings | None = None
    admin_cert_file: Path | None = None
    admin_key: KeySource | None = None
    days: float = 30.0
    person_days: float = 365.0
    crl_file: Path | None = None
    admin_crl_file: Path | None = None
    crl_days: float = 7.0
    key_origin: str = "any"
    broker_pid_file: Path | None = None


@dataclass(frozen=True, slots=True)
class EstSettings:
    """[est]."""

    host: str
    port: int
    cert_file: Path
    key_file: Path
    trust_file: Path | None = None
    token_minutes: float = 15.0


def _key(c: Reader, file: ConfigFile, prefix: str) -> KeySource | None:
    label = c.text(f"{prefix}key_label", None, _LABEL)
    path = c.text(f"{prefix}key_file", None)
    if label is not None and path is not None:
        raise c.error(f"{prefix}key_file", f"give {prefix}key_label or {prefix}key_file, not both")
    if label is None and path is None:
        return None
    return KeySource(label, None if path is None else file.path(path))


def parse_ca(top: Reader, file: ConfigFile) -> CaSettings | None:
    """[ca] and [ca.token] (None when absent)."""
    c = top.nested("ca", None)
    if c is None:
        return None
    t = c.nested("token", None)
    token = None
    if t is not None:
        token = TokenSettings(
            file.path(t.text("module")), t.text("label"), file.path(t.text("pin_file"))
        )
        t.done()
    key = _key(c, file, "")
    if key is None:
        raise c.error("key_label", "give key_label (in [ca.token]) or key_file")
    admin_cert = c.text("admin_cert_file", None)
    admin_key = _key(c, file, "admin_")
    if admin_cert is None and admin_key is not None:
        raise c.error("admin_cert_file", "an admin CA key needs admin_cert_file")
    for k in (key, admin_key):
        if k is not None and k.label is not None and token is None:
            raise c.error("token", "a key_label needs a [ca.token] section")

    def path(name: str) -> Path | None:
        text = c.text(name, None)
        return None if text is None else file.path(text)

    settings = CaSettings(
        cert_file=file.path(c.text("cert_file")),
        key=key,
        token=token,
        admin_cert_file=None if admin_cert is None else file.path(admin_cert),
        admin_key=admin_key,
        days=c.number("days", 30.0, 0.0002, 3650.0),
        person_days=c.number("person_days", 365.0, 0.001, 3650.0),
        crl_file=path("crl_file"),
        admin_crl_file=path("admin_crl_file"),
        crl_days=c.number("crl_days", 7.0, 0.01, 365.0),
        key_origin=c.choice("key_origin", KEY_ORIGIN_POLICIES, "any"),
        broker_pid_file=path("broker_pid_file"),
    )
    c.done()
    return settings


def parse_est(top: Reader, file: ConfigFile) -> EstSettings | None:
    """[est] (None when absent)."""
    e = top.nested("est", None)
    if e is None:
        return None
    listen = e.text("listen", "127.0.0.1:8445")
    m = _LISTEN.match(listen)
    if m is None or not 0 <= int(m.group(2)) <= 65535:
        raise e.error("listen", "must be HOST:PORT (127.0.0.1:8445)")
    trust = e.text("trust_file", None)
    settings = EstSettings(
        host=m.group(1).strip("[]"),
        port=int(m.group(2)),
        cert_file=file.path(e.text("cert_file")),
        key_file=file.path(e.text("key_file")),
        trust_file=None if trust is None else file.path(trust),
        token_minutes=e.number("token_minutes", 15.0, 0.1, MAX_TOKEN_MINUTES),
    )
    e.done()
    return settings
