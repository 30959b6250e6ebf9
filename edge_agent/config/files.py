"""Checks of the files agent.toml names: they exist, and the client certificate is this device's."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.balikan import check_balikan_files
from edge_agent.config.sections import AgentConfig
from edge_agent.errors import ConfigError


def check_files(config: AgentConfig, *, source: str = "agent.toml") -> None:
    """Check that the certificate (and admin key) files exist and the client certificate's CN
    is the device id."""
    g = config.gateway
    made = set()  # with [identity] the certificate and key file are made at the first start
    if config.identity is not None:
        made = {g.cert_file, g.key_file}
        i = config.identity
        for key, path in (
            ("token_module", i.token_module),
            ("pin_file", i.pin_file),
            ("est_ca_file", i.est_ca_file),
        ):
            if not path.is_file():
                raise ConfigError(f"identity.{key}", f"file not found: {path}", source)
    for key, path in (("ca_file", g.ca_file), ("cert_file", g.cert_file), ("key_file", g.key_file)):
        if path not in made and not path.is_file():
            raise ConfigError(f"gateway.{key}", f"file not found: {path}", source)
    if config.mqtt is not None:
        for key, path in zip(("ca_file", "cert_file", "key_file"), config.mqtt_files, strict=True):
            if path not in made and not path.is_file():
                raise ConfigError(f"mqtt.{key}", f"file not found: {path}", source)
    if config.admin is not None:
        for path in config.admin.public_keys:
            if not path.is_file():
                raise ConfigError("admin.public_keys", f"file not found: {path}", source)
    check_balikan_files(config.balikan, source=source)
    if g.cert_file in made and not g.cert_file.is_file():
        return  # not enrolled yet: the agent enrols at its start
    cn = _certificate_cn(g.cert_file, source)
    if cn != config.device.id:
        raise ConfigError(
            "device.id",
            f"is {config.device.id!r} but the client certificate's CN is {cn!r}",
            source,
        )


def require_token(config: AgentConfig, *, source: str = "agent.toml") -> None:
    """The kiosk's key must live in a PKCS#11 token: ConfigError without [identity]."""
    if config.identity is None:
        raise ConfigError(
            "identity",
            "section is required: the kiosk's key lives in a PKCS#11 token and the agent does "
            "not start without a token module (set token_module, token_label, pin_file, est_url; "
            "see deploy/agent.toml.example)",
            source,
        )


def _certificate_cn(path: Path, source: str) -> str | None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ConfigError("gateway.cert_file", "is not a PEM certificate", source) from err
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode()
