"""Reading agent.toml: common.config reads the file, the strict reader each section."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.config import ConfigFile, read_toml
from edge_agent.config import sections as cfg
from edge_agent.config.balikan import parse_balikan
from edge_agent.errors import ConfigError
from hardware.card.reader import Finger
from protocol.outcomes import Lang
from protocol.regions import PROVINCES
from protocol.strict import Reader

_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
_HELP = re.compile(r"^[^\x00-\x1f\x7f]{0,80}$")  # one short line on every screen
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_PIN_FACTORIES = ("lgpio", "mock")
_SECTIONS = (
    "device",
    "reader",
    "gateway",
    "fingerprint",
    "indicators",
    "timeouts",
    "session",
    "ui",
    "log",
    "mqtt",
    "admin",
    "state",
    "tamper",
    "supervisor",
    "balikan",
    "identity",
)


def load_config(path: str | Path) -> cfg.AgentConfig:
    """Read and validate a configuration file, or raise ConfigError."""
    return _parse(read_toml(path, ConfigError))


def parse_config(
    data: dict[str, Any], *, source: str = "agent.toml", base: Path | None = None
) -> cfg.AgentConfig:
    """Validate a parsed TOML document into an cfg.AgentConfig, or raise ConfigError."""
    return _parse(ConfigFile(data, base if base is not None else Path.cwd(), source, ConfigError))


def _parse(file: ConfigFile) -> cfg.AgentConfig:
    data = file.data
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise file.fail(unknown[0], "unknown section")
    for name in ("device", "reader", "gateway"):
        if name not in data:
            raise file.fail(name, "section is required")
    top = Reader(data, error=file.fail)

    t = top.nested("device")
    device = cfg.DeviceConfig(id=t.text("id", pattern=_IDENT))
    t.done()

    t = top.nested("reader")
    reader = cfg.ReaderConfig(
        reader_id=t.text("reader_id", pattern=_IDENT),
        sam_id=t.text("sam_id", pattern=_IDENT),
        card_reader=t.text("card_reader", None),
        sam_reader=t.text("sam_reader", None),
        sam_host_key=t.text("sam_host_key", cfg.SAM_HOST_KEY_LABEL, pattern=_IDENT),
    )
    t.done()

    state = _state(top.nested("state", None), file)
    identity = _identity(top.nested("identity", None), file, state, device.id)
    gateway = _gateway(top.nested("gateway"), file, identity)
    fingerprint = _fingerprint(top.nested("fingerprint", {}))
    indicators = _indicators(top.nested("indicators", {}))
    timeouts = _timeouts(top.nested("timeouts", {}))

    t = top.nested("session", {})
    first = t.member("first_finger", Finger, Finger.RIGHT_INDEX)
    session = cfg.SessionConfig(first_finger=first, max_tries=t.integer("max_tries", 3, 1, 3))
    t.done()

    ui = _ui(top.nested("ui", {}), file)

    t = top.nested("log", {})
    log = cfg.LogConfig(level=t.choice("level", _LOG_LEVELS, "INFO"))
    t.done()

    mqtt = _mqtt(top.nested("mqtt", None), file)
    admin = _admin(top.nested("admin", None), file)
    tamper = _tamper(top.nested("tamper", {}))
    supervisor = _supervisor(top.nested("supervisor", None))
    balikan = parse_balikan(top.nested("balikan", None), file)
    top.done()
    if supervisor is not None and state is None:
        raise file.fail("state", "section is required with [supervisor]")
    if mqtt is not None and (state is None or admin is None):
        raise file.fail("state" if state is None else "admin", "section is required with [mqtt]")
    if tamper.enabled and state is None:
        raise file.fail("state", "section is required with [tamper] enabled")

    return cfg.AgentConfig(
        device=device,
        reader=reader,
        gateway=gateway,
        fingerprint=fingerprint,
        indicators=indicators,
        timeouts=timeouts,
        session=session,
        ui=ui,
        log=log,
        mqtt=mqtt,
        admin=admin,
        state=state,
        tamper=tamper,
        supervisor=supervisor,
        balikan=balikan,
        identity=identity,
    )


def _gateway(t: Reader, file: ConfigFile, identity: cfg.IdentityConfig | None) -> cfg.GatewayConfig:
    url = t.text("url")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError when out of range
    except ValueError as err:
        raise t.error("url", "is not a valid URL") from err
    if parts.scheme != "https" or not parts.hostname:
        raise t.error("url", "must be an https:// URL with a host")
    if parts.query or parts.fragment:
        raise t.error("url", "must have no query or fragment")
    if identity is None:
        cert_file, key_file = file.path(t.text("cert_file")), file.path(t.text("key_file"))
    else:
        for key in ("cert_file", "key_file"):
            if t.text(key, None) is not None:
                raise t.error(key, "must not be set with [identity] (the token's key is used)")
        cert_file, key_file = identity.cert_file, identity.key_file
    config = cfg.GatewayConfig(
        url=url.rstrip("/"),
        ca_file=file.path(t.text("ca_file")),
        cert_file=cert_file,
        key_file=key_file,
        connect_timeout=t.seconds("connect_timeout", 3.0, 60.0),
        request_timeout=t.seconds("request_timeout", 8.0, 120.0),
        keepalive=t.seconds("keepalive", 60.0),
    )
    t.done()
    return config


def _identity(
    t: Reader | None, file: ConfigFile, state: cfg.StateConfig | None, device_id: str
) -> cfg.IdentityConfig | None:
    if t is None:
        return None
    est_url = t.text("est_url")
    parts = urlsplit(est_url)
    if parts.scheme != "https" or not parts.hostname:
        raise t.error("est_url", "must be an https:// URL with a host")
    folder = t.text("dir", None)
    if folder is None and state is None:
        raise t.error("dir", "is required without [state] (a writable folder)")
    config = cfg.IdentityConfig(
        token_module=file.path(t.text("token_module")),
        token_label=t.text("token_label", pattern=_IDENT),
        pin_file=file.path(t.text("pin_file")),
        est_url=est_url.rstrip("/"),
        institution=t.text("institution", pattern=_IDENT),
        dir=file.path(folder) if folder is not None else _state_dir(state) / "identity",
        est_ca_file=file.path(t.text("est_ca_file")),
        serial=t.text("serial", device_id, pattern=_IDENT),
        enrolment_token_file=_optional_path(t, "enrolment_token_file", file),
        renew_at=t.number("renew_at", 2 / 3, 0.1, 0.95),
        retry_min=t.seconds("retry_min", 30.0, 3600.0),
        retry_max=t.seconds("retry_max", 3600.0, 86400.0),
    )
    t.done()
    return config


def _state_dir(state: cfg.StateConfig | None) -> Path:
    assert state is not None
    return state.dir


def _fingerprint(t: Reader) -> cfg.FingerprintConfig:
    d = cfg.FingerprintConfig()
    config = cfg.FingerprintConfig(
        port=t.text("port", d.port),
        baud=t.integer("baud", d.baud, 9600, 921600),
        address=t.integer("address", d.address, 0, 0xFFFFFFFF),
        password=t.integer("password", d.password, 0, 0xFFFFFFFF),
    )
    t.done()
    return config


def _indicators(t: Reader) -> cfg.IndicatorsConfig:
    d = cfg.IndicatorsConfig()
    config = cfg.IndicatorsConfig(
        enabled=t.boolean("enabled", d.enabled),
        pin_factory=t.choice("pin_factory", _PIN_FACTORIES, d.pin_factory),
        green=t.integer("green", d.green, 0, 27),
        amber=t.integer("amber", d.amber, 0, 27),
        red=t.integer("red", d.red, 0, 27),
        buzzer=t.integer("buzzer", d.buzzer, 0, 27),
    )
    t.done()
    return config


def _timeouts(t: Reader) -> cfg.TimeoutsConfig:
    d = cfg.TimeoutsConfig()
    timeouts = cfg.TimeoutsConfig(
        card_read=t.seconds("card_read", d.card_read, 120.0),
        finger_wait=t.seconds("finger_wait", d.finger_wait, 300.0),
        query=t.seconds("query", d.query, 300.0),
        result_display=t.seconds("result_display", d.result_display, 300.0),
        notice=t.seconds("notice", d.notice, 300.0),
    )
    t.done()
    return timeouts


def _ui(t: Reader, file: ConfigFile) -> cfg.UiConfig:
    d = cfg.UiConfig()
    host = t.text("host", d.host)
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise t.error("host", "must be a loopback address (the page shows personal data)")
    ui = cfg.UiConfig(
        host=host,
        port=t.integer("port", d.port, 0, 65535),
        language=t.member("language", Lang, d.language),
        help_contact=t.text("help_contact", d.help_contact, _HELP, empty=True),
        voice=t.boolean("voice", d.voice),
        voice_dir=file.path(t.text("voice_dir", str(d.voice_dir))),
    )
    t.done()
    return ui


def _mqtt(t: Reader | None, file: ConfigFile) -> cfg.MqttConfig | None:
    if t is None:
        return None
    d = cfg.MqttConfig(host="-")
    config = cfg.MqttConfig(
        host=t.text("host", pattern=_HOST),
        port=t.integer("port", d.port, 1, 65535),
        ca_file=_optional_path(t, "ca_file", file),
        cert_file=_optional_path(t, "cert_file", file),
        key_file=_optional_path(t, "key_file", file),
        keepalive=t.integer("keepalive", d.keepalive, 5, 3600),
        session_expiry=t.integer("session_expiry", d.session_expiry, 0, 30 * 86400),
        connect_timeout=t.seconds("connect_timeout", d.connect_timeout, 60.0),
        reconnect_min=t.seconds("reconnect_min", d.reconnect_min, 60.0),
        reconnect_max=t.seconds("reconnect_max", d.reconnect_max, 3600.0),
        health_interval=t.seconds("health_interval", d.health_interval, 86400.0),
        probe_interval=t.seconds("probe_interval", d.probe_interval, 3600.0),
    )
    if config.reconnect_max < config.reconnect_min:
        raise t.error("reconnect_max", "must not be less than reconnect_min")
    t.done()
    return config


def _optional_path(t: Reader, key: str, file: ConfigFile) -> Path | None:
    text = t.text(key, None)
    return None if text is None else file.path(text)


def _admin(t: Reader | None, file: ConfigFile) -> cfg.AdminConfig | None:
    if t is None:
        return None
    keys = t.texts("public_keys", min_items=1)
    t.done()
    return cfg.AdminConfig(tuple(file.path(k) for k in keys))


def _state(t: Reader | None, file: ConfigFile) -> cfg.StateConfig | None:
    if t is None:
        return None
    key_file = t.text("key_file", "")
    config = cfg.StateConfig(
        dir=file.path(t.text("dir")),
        province=t.choice("province", sorted(PROVINCES), "31"),
        key_file=file.path(key_file) if key_file else None,
    )
    t.done()
    return config


def _tamper(t: Reader) -> cfg.TamperConfig:
    d = cfg.TamperConfig()
    config = cfg.TamperConfig(
        enabled=t.boolean("enabled", d.enabled),
        pin=t.integer("pin", d.pin, 0, 27),
        pin_factory=t.choice("pin_factory", _PIN_FACTORIES, d.pin_factory),
    )
    t.done()
    return config


def _supervisor(t: Reader | None) -> cfg.SupervisorConfig | None:
    if t is None:
        return None
    config = cfg.SupervisorConfig(
        port=t.text("port"),
        baud=t.integer("baud", 115200, 9600, 921600),
        heartbeat_interval=t.seconds("heartbeat_interval", 1.0, 60.0),
    )
    t.done()
    return config
