"""The sections of agent.toml, as frozen dataclasses with their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_agent.config.balikan import BalikanConfig
from hardware.card.reader import Finger
from protocol.outcomes import Lang


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """[device]: who this kiosk is."""

    id: str  # equals the CN of the client certificate


SAM_HOST_KEY_LABEL = "kiosk-sam-host"
"""The label of the SAM host key (AES) in the kiosk's token (provisioning.sam_bind makes it)."""


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """[reader]: the PC/SC card reader and SAM, and their non-personal identities."""

    reader_id: str
    sam_id: str
    card_reader: str | None = None  # PC/SC reader name (None: the driver picks)
    sam_reader: str | None = None
    sam_host_key: str = SAM_HOST_KEY_LABEL  # label of the SAM host key in [identity]'s token


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
    notice: float = 30.0  # the privacy notice, before the card is read


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
    help_contact: str = ""  # the institution's help contact, on every screen
    voice: bool = True  # spoken prompts (the citizen may still switch them off)
    voice_dir: Path = Path("/var/cache/kiosk-agent/voice")  # made there on first use


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
    # the key binding remote-state.json to the device, apart from it (default: beside the folder)
    key_file: Path | None = None

    @property
    def state_key(self) -> Path:
        """Where the state key is kept."""
        return self.key_file or self.dir.parent / f"{self.dir.name}.key"


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
class IdentityConfig:
    """[identity]: the kiosk's key in a PKCS#11 token, its certificate enrolled and renewed over
    EST (RFC 7030). The certificate and the key's URI PEM live in `dir`; [gateway] and [mqtt]
    use them (their cert_file and key_file are then not set)."""

    token_module: Path  # the PKCS#11 module: SoftHSM2, tpm2-pkcs11, a secure element's
    token_label: str
    pin_file: Path  # the token's user PIN (read-only for the agent)
    est_url: str  # https://.../.well-known/est
    institution: str  # O of the certificate request
    dir: Path  # writable: device.crt, device.key (a URI PEM), openssl-pkcs11.cnf
    est_ca_file: Path  # the CA of the EST server's certificate
    serial: str  # the kiosk's serial: the username of the first enrolment
    enrolment_token_file: Path | None = None  # the technician's single-use token (first start)
    renew_at: float = 2 / 3  # renew once this share of the certificate's life is gone
    retry_min: float = 30.0  # seconds between renewal tries after a failure (doubling)
    retry_max: float = 3600.0

    @property
    def cert_file(self) -> Path:
        """The device certificate (PEM), written on enrolment and renewal."""
        return self.dir / "device.crt"

    @property
    def key_file(self) -> Path:
        """The URI PEM naming the key in the token (never a private key)."""
        return self.dir / "device.key"

    @property
    def openssl_config(self) -> Path:
        """The OpenSSL configuration loading pkcs11-provider for `token_module`."""
        return self.dir / "openssl-pkcs11.cnf"


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
    balikan: BalikanConfig | None = None  # data balikan to the institution's service
    identity: IdentityConfig | None = None

    @property
    def mqtt_files(self) -> tuple[Path, Path, Path]:
        """CA, certificate and key for MQTT ([mqtt] files, else the [gateway] ones)."""
        m, g = self.mqtt, self.gateway
        return (
            (m.ca_file if m and m.ca_file else g.ca_file),
            (m.cert_file if m and m.cert_file else g.cert_file),
            (m.key_file if m and m.key_file else g.key_file),
        )
