"""The agent's configuration (agent.toml): parsed with tomllib, validated, errors name the key.

Relative paths are taken from the folder of the configuration file. Every section but [device],
[reader] and [gateway] may be left out; every key with a default may be left out. Unknown
sections and keys are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from edge_agent.errors import ConfigError
from hardware.card.reader import Finger
from protocol.outcomes import Lang

_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """[device]: who this kiosk is."""

    id: str  # equals the CN of the client certificate


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """[reader]: the PC/SC card reader and SAM, and their non-personal identities."""

    reader_id: str
    sam_id: str
    card_reader: str | None = None  # PC/SC reader name (None: the driver picks)
    sam_reader: str | None = None


@dataclass(frozen=True, slots=True)
class FingerprintConfig:
    """[fingerprint]: the UART fingerprint module."""

    port: str = "/dev/serial0"
    baud: int = 57600
    address: int = 0xFFFFFFFF
    password: int = 0


@dataclass(frozen=True, slots=True)
class IndicatorsConfig:
    """[indicators]: LEDs and buzzer on GPIO (off: the session runs without them)."""

    enabled: bool = False
    pin_factory: str = "lgpio"  # gpiozero pin factory: lgpio on a Pi, mock in a simulation
    green: int = 22  # BCM numbers (hardware.gpio.DEFAULT_PINS)
    amber: int = 23
    red: int = 24
    buzzer: int = 25


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """[gateway]: where and how the agent reaches the Platform Bersama gateway (mTLS)."""

    url: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    connect_timeout: float = 3.0
    request_timeout: float = 8.0
    keepalive: float = 60.0


@dataclass(frozen=True, slots=True)
class TimeoutsConfig:
    """[timeouts] in seconds: every step of a session has one."""

    card_read: float = 10.0
    finger_wait: float = 20.0  # per try: how long the citizen has to place a finger
    query: float = 25.0  # the whole gateway step, retry included
    result_display: float = 8.0


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """[session]: how a verification goes."""

    first_finger: Finger = Finger.RIGHT_INDEX
    max_tries: int = 3


@dataclass(frozen=True, slots=True)
class UiConfig:
    """[ui]: the kiosk page, served on loopback only."""

    host: str = "127.0.0.1"
    port: int = 8080
    language: Lang = Lang.ID


@dataclass(frozen=True, slots=True)
class LogConfig:
    """[log]."""

    level: str = "INFO"


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """[mqtt]: telemetry and remote control over MQTT v5 with TLS (certificate files default to
    the [gateway] ones: the device has one certificate for both)."""

    host: str
    port: int = 8883
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = 60
    session_expiry: int = 86400
    connect_timeout: float = 5.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    health_interval: float = 300.0
    probe_interval: float = 30.0


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """[admin]: the Dukcapil admin public keys pinned at provisioning (Ed25519, PEM)."""

    public_keys: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class StateConfig:
    """[state]: where the kiosk keeps its remote state and usage outbox; the institution's
    province (its time zone makes the local day of the usage counts)."""

    dir: Path
    province: str = "31"


@dataclass(frozen=True, slots=True)
class TamperConfig:
    """[tamper]: the enclosure's tamper switch on GPIO (needs [state])."""

    enabled: bool = False
    pin: int = 26
    pin_factory: str = "lgpio"


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    """[supervisor]: the supervisor MCU on a UART (heartbeats, tamper reports; needs [state])."""

    port: str
    baud: int = 115200
    heartbeat_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """The whole agent.toml."""

    device: DeviceConfig
    reader: ReaderConfig
    gateway: GatewayConfig
    fingerprint: FingerprintConfig = FingerprintConfig()
    indicators: IndicatorsConfig = IndicatorsConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    session: SessionConfig = SessionConfig()
    ui: UiConfig = UiConfig()
    log: LogConfig = LogConfig()
    mqtt: MqttConfig | None = None
    admin: AdminConfig | None = None
    state: StateConfig | None = None
    tamper: TamperConfig = TamperConfig()
    supervisor: SupervisorConfig | None = None

    @property
    def mqtt_files(self) -> tuple[Path, Path, Path]:
        """CA, certificate and key for MQTT ([mqtt] files, else the [gateway] ones)."""
        m, g = self.mqtt, self.gateway
        return (
            (m.ca_file if m and m.ca_file else g.ca_file),
            (m.cert_file if m and m.cert_file else g.cert_file),
            (m.key_file if m and m.key_file else g.key_file),
        )


class _Table:
    """One TOML table being read: typed getters that name the key on error, then `done()`."""

    def __init__(self, data: object, name: str, source: str, base: Path) -> None:
        if not isinstance(data, dict):
            raise ConfigError(name, "must be a table", source)
        self._data: dict[str, Any] = data
        self._name = name
        self._source = source
        self._base = base
        self._seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self._name}.{key}"

    def error(self, key: str, reason: str) -> ConfigError:
        """A ConfigError naming `key` in this table."""
        return ConfigError(self._key(key), reason, self._source)

    def _get(self, key: str, default: _T | None, kind: str, check: Callable[[Any], bool]) -> Any:
        self._seen.add(key)
        if key not in self._data:
            if default is None:
                raise self.error(key, "is required")
            return default
        value = self._data[key]
        if not check(value):
            raise self.error(key, f"must be {kind} (got {_kind(value)})")
        return value

    def text(
        self, key: str, default: str | None = None, pattern: re.Pattern[str] | None = None
    ) -> str:
        """A non-empty string."""
        value: str = self._get(key, default, "a string", lambda v: isinstance(v, str))
        if not value:
            raise self.error(key, "must not be empty")
        if pattern is not None and not pattern.match(value):
            raise self.error(key, f"must match {pattern.pattern}")
        return value

    def optional_text(self, key: str) -> str | None:
        """A string, or None when absent."""
        if key not in self._data:
            self._seen.add(key)
            return None
        return self.text(key)

    def integer(self, key: str, default: int | None, lo: int, hi: int) -> int:
        """An integer between lo and hi."""
        value: int = self._get(
            key, default, "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
        )
        if not lo <= value <= hi:
            raise self.error(key, f"must be between {lo} and {hi} (got {value})")
        return value

    def seconds(self, key: str, default: float, hi: float = 3600.0) -> float:
        """A positive number of seconds."""
        value = self._get(
            key,
            default,
            "a number of seconds",
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        )
        if not 0 < value <= hi:
            raise self.error(key, f"must be more than 0 and at most {hi:g} seconds (got {value})")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        """true or false."""
        value: bool = self._get(key, default, "true or false", lambda v: isinstance(v, bool))
        return value

    def path(self, key: str) -> Path:
        """A path, relative to the configuration file's folder unless absolute."""
        path = Path(self.text(key))
        return path if path.is_absolute() else self._base / path

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        """One of `choices`."""
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)} (got {value!r})")
        return value

    def done(self) -> None:
        """Refuse keys nobody asked for."""
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


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
)


def parse_config(
    data: dict[str, Any], *, source: str = "agent.toml", base: Path | None = None
) -> AgentConfig:
    """Validate a parsed TOML document into an AgentConfig, or raise ConfigError."""
    base = base if base is not None else Path.cwd()
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(unknown[0], "unknown section", source)

    def table(name: str, required: bool = False) -> _Table:
        if name not in data and required:
            raise ConfigError(name, "section is required", source)
        return _Table(data.get(name, {}), name, source, base)

    t = table("device", required=True)
    device = DeviceConfig(id=t.text("id", pattern=_IDENT))
    t.done()

    t = table("reader", required=True)
    reader = ReaderConfig(
        reader_id=t.text("reader_id", pattern=_IDENT),
        sam_id=t.text("sam_id", pattern=_IDENT),
        card_reader=t.optional_text("card_reader"),
        sam_reader=t.optional_text("sam_reader"),
    )
    t.done()

    gateway = _gateway(table("gateway", required=True))

    t = table("fingerprint")
    d = FingerprintConfig()
    fingerprint = FingerprintConfig(
        port=t.text("port", d.port),
        baud=t.integer("baud", d.baud, 9600, 921600),
        address=t.integer("address", d.address, 0, 0xFFFFFFFF),
        password=t.integer("password", d.password, 0, 0xFFFFFFFF),
    )
    t.done()

    t = table("indicators")
    di = IndicatorsConfig()
    indicators = IndicatorsConfig(
        enabled=t.boolean("enabled", di.enabled),
        pin_factory=t.choice("pin_factory", di.pin_factory, ("lgpio", "mock")),
        green=t.integer("green", di.green, 0, 27),
        amber=t.integer("amber", di.amber, 0, 27),
        red=t.integer("red", di.red, 0, 27),
        buzzer=t.integer("buzzer", di.buzzer, 0, 27),
    )
    t.done()

    timeouts = _timeouts(table("timeouts"))

    t = table("session")
    first = t.choice("first_finger", Finger.RIGHT_INDEX.value, tuple(f.value for f in Finger))
    session = SessionConfig(first_finger=Finger(first), max_tries=t.integer("max_tries", 3, 1, 3))
    t.done()

    ui = _ui(table("ui"))

    t = table("log")
    log = LogConfig(level=t.choice("level", "INFO", _LOG_LEVELS))
    t.done()

    mqtt = _mqtt(table("mqtt")) if "mqtt" in data else None
    admin = _admin(table("admin")) if "admin" in data else None
    state = _state(table("state")) if "state" in data else None
    tamper = _tamper(table("tamper"))
    supervisor = None
    if "supervisor" in data:
        t = table("supervisor")
        supervisor = SupervisorConfig(
            port=t.text("port"),
            baud=t.integer("baud", 115200, 9600, 921600),
            heartbeat_interval=t.seconds("heartbeat_interval", 1.0, 60.0),
        )
        t.done()
        if state is None:
            raise ConfigError("state", "section is required with [supervisor]", source)
    if mqtt is not None and (state is None or admin is None):
        missing = "state" if state is None else "admin"
        raise ConfigError(missing, "section is required with [mqtt]", source)
    if tamper.enabled and state is None:
        raise ConfigError("state", "section is required with [tamper] enabled", source)

    return AgentConfig(
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
    )


def _optional_path(t: _Table, key: str) -> Path | None:
    return None if t.optional_text(key) is None else t.path(key)


def _mqtt(t: _Table) -> MqttConfig:
    d = MqttConfig(host="-")
    config = MqttConfig(
        host=t.text("host", pattern=re.compile(r"^[A-Za-z0-9.:-]{1,253}$")),
        port=t.integer("port", d.port, 1, 65535),
        ca_file=_optional_path(t, "ca_file"),
        cert_file=_optional_path(t, "cert_file"),
        key_file=_optional_path(t, "key_file"),
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


def _admin(t: _Table) -> AdminConfig:
    t._seen.add("public_keys")
    keys = t._data.get("public_keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise t.error("public_keys", "must be a non-empty array of file paths")
    t.done()
    return AdminConfig(tuple(Path(k) if Path(k).is_absolute() else t._base / k for k in keys))


def _state(t: _Table) -> StateConfig:
    from protocol.regions import PROVINCES

    config = StateConfig(
        dir=t.path("dir"), province=t.choice("province", "31", tuple(sorted(PROVINCES)))
    )
    t.done()
    return config


def _tamper(t: _Table) -> TamperConfig:
    d = TamperConfig()
    config = TamperConfig(
        enabled=t.boolean("enabled", d.enabled),
        pin=t.integer("pin", d.pin, 0, 27),
        pin_factory=t.choice("pin_factory", d.pin_factory, ("lgpio", "mock")),
    )
    t.done()
    return config


def _gateway(t: _Table) -> GatewayConfig:
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
    config = GatewayConfig(
        url=url.rstrip("/"),
        ca_file=t.path("ca_file"),
        cert_file=t.path("cert_file"),
        key_file=t.path("key_file"),
        connect_timeout=t.seconds("connect_timeout", 3.0, 60.0),
        request_timeout=t.seconds("request_timeout", 8.0, 120.0),
        keepalive=t.seconds("keepalive", 60.0),
    )
    t.done()
    return config


def _timeouts(t: _Table) -> TimeoutsConfig:
    d = TimeoutsConfig()
    timeouts = TimeoutsConfig(
        card_read=t.seconds("card_read", d.card_read, 120.0),
        finger_wait=t.seconds("finger_wait", d.finger_wait, 300.0),
        query=t.seconds("query", d.query, 300.0),
        result_display=t.seconds("result_display", d.result_display, 300.0),
    )
    t.done()
    return timeouts


def _ui(t: _Table) -> UiConfig:
    host = t.text("host", UiConfig().host)
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise t.error("host", "must be a loopback address (the page shows personal data)")
    ui = UiConfig(
        host=host,
        port=t.integer("port", UiConfig().port, 0, 65535),
        language=Lang(t.choice("language", Lang.ID.value, tuple(lang.value for lang in Lang))),
    )
    t.done()
    return ui


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate a configuration file, or raise ConfigError."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError("file", f"cannot be read ({err.strerror})", source) from err
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError("file", "is not UTF-8", source) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("file", f"is not valid TOML ({err})", source) from err
    return parse_config(data, source=source, base=path.resolve().parent)


def check_files(config: AgentConfig, *, source: str = "agent.toml") -> None:
    """Check that the certificate (and admin key) files exist and the client certificate's CN
    is the device id."""
    g = config.gateway
    for key, path in (("ca_file", g.ca_file), ("cert_file", g.cert_file), ("key_file", g.key_file)):
        if not path.is_file():
            raise ConfigError(f"gateway.{key}", f"file not found: {path}", source)
    if config.mqtt is not None:
        for key, path in zip(("ca_file", "cert_file", "key_file"), config.mqtt_files, strict=True):
            if not path.is_file():
                raise ConfigError(f"mqtt.{key}", f"file not found: {path}", source)
    if config.admin is not None:
        for path in config.admin.public_keys:
            if not path.is_file():
                raise ConfigError("admin.public_keys", f"file not found: {path}", source)
    cn = _certificate_cn(g.cert_file, source)
    if cn != config.device.id:
        raise ConfigError(
            "device.id",
            f"is {config.device.id!r} but the client certificate's CN is {cn!r}",
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
