"""MQTT topics of the kiosk fleet and their JSON payloads, with strict parsers (pure, no I/O).

Every kiosk lives under `kiosk/v1/<device id>/`; the broker's ACL confines it there:

| topic | from | retained | QoS | payload |
|---|---|---|---|---|
| `state` | kiosk (online/offline), broker (Last Will: lost) | yes | 1 | StateMessage |
| `health` | kiosk, periodic and on change | yes | 0 | HealthMessage |
| `usage` | kiosk, from its outbox | no | 1 | UsageMessage |
| `desired` | admin | yes | 1 | signed DesiredState (protocol.signed) |
| `reported` | kiosk | yes | 1 | ReportedMessage |
| `cmd/<nonce>` | admin | no | 1 | signed Command (protocol.signed) |
| `cmd/<nonce>/ack` | kiosk | no | 1 | AckMessage |

Payloads are compact JSON objects with a schema version `v`; parsers refuse unknown fields and
wrong types with PayloadError naming the field. No payload carries personal data: counts,
states, identifiers of devices, and times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from protocol.errors import ProtocolError
from protocol.outcomes import Outcome
from protocol.strictjson import canonical_dumps, strict_loads

PREFIX = "kiosk/v1"
SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 8192
_IDENT = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_NONCE = re.compile(r"^[0-9a-f]{32}\Z")
_CONN = re.compile(r"^[0-9a-f]{8,32}\Z")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_VERSION_TEXT = re.compile(r"^[A-Za-z0-9.+_-]{1,32}\Z")
_MAX_INT = 2**53 - 1


class TopicError(ProtocolError, ValueError):
    """A topic outside the fleet's tree or of an unknown shape."""


class PayloadError(ProtocolError, ValueError):
    """A payload that does not follow its schema; `field` names where (the value never shown)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class Channel(Enum):
    """The kinds of topics under a device."""

    STATE = "state"
    HEALTH = "health"
    USAGE = "usage"
    DESIRED = "desired"
    REPORTED = "reported"
    CMD = "cmd"
    ACK = "ack"


@dataclass(frozen=True, slots=True)
class TopicRef:
    """A parsed topic: which device, which channel, and the command id of cmd/ack topics."""

    device: str
    channel: Channel
    command_id: str | None = None


def is_device_id(text: str) -> bool:
    """True if `text` may be a device id (and so a topic level)."""
    return bool(_IDENT.match(text))


def _check_device(device: str) -> str:
    if not is_device_id(device):
        raise TopicError("not a device id")
    return device


def topic(device: str, channel: Channel) -> str:
    """The topic of one of a device's channels (not cmd/ack: see command_topic, ack_topic)."""
    if channel in (Channel.CMD, Channel.ACK):
        raise TopicError("command topics carry an id: use command_topic or ack_topic")
    return f"{PREFIX}/{_check_device(device)}/{channel.value}"


def command_topic(device: str, command_id: str) -> str:
    """`kiosk/v1/<device>/cmd/<id>`: where a signed command is published (id = its nonce)."""
    if not _NONCE.match(command_id):
        raise TopicError("a command id is 32 lowercase hex digits")
    return f"{PREFIX}/{_check_device(device)}/cmd/{command_id}"


def ack_topic(device: str, command_id: str) -> str:
    """`kiosk/v1/<device>/cmd/<id>/ack`: the kiosk's answer to a command."""
    return command_topic(device, command_id) + "/ack"


def command_filter(device: str) -> str:
    """Every command of one device: `kiosk/v1/<device>/cmd/+`."""
    return f"{PREFIX}/{_check_device(device)}/cmd/+"


def device_filter(device: str) -> str:
    """Every topic of one device."""
    return f"{PREFIX}/{_check_device(device)}/#"


def fleet_filter(channel: Channel) -> str:
    """One channel of every device (state, health, usage, desired, reported)."""
    if channel is Channel.CMD:
        return f"{PREFIX}/+/cmd/+"
    if channel is Channel.ACK:
        return f"{PREFIX}/+/cmd/+/ack"
    return f"{PREFIX}/+/{channel.value}"


FLEET_ALL = f"{PREFIX}/#"


def parse_topic(text: str) -> TopicRef:
    """The device, channel and command id of a topic under kiosk/v1; TopicError otherwise."""
    parts = text.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != PREFIX or not is_device_id(parts[2]):
        raise TopicError("not a kiosk topic")
    device, rest = parts[2], parts[3:]
    if len(rest) == 1 and rest[0] in {"state", "health", "usage", "desired", "reported"}:
        return TopicRef(device, Channel(rest[0]))
    if rest[0] == "cmd" and len(rest) in (2, 3) and _NONCE.match(rest[1]):
        if len(rest) == 2:
            return TopicRef(device, Channel.CMD, rest[1])
        if rest[2] == "ack":
            return TopicRef(device, Channel.ACK, rest[1])
    raise TopicError("unknown kiosk topic")


# --- encoding and strict decoding ----------------------------------------------------------------


def encode(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON with sorted keys (what goes on the wire)."""
    return canonical_dumps(obj)


def decode(raw: bytes) -> dict[str, Any]:
    """A payload's JSON object (no duplicate keys, no NaN); PayloadError otherwise."""
    if not isinstance(raw, bytes | bytearray):
        raise PayloadError("payload", "must be bytes")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload", "too large")
    try:
        obj = strict_loads(bytes(raw))
    except (ValueError, RecursionError):
        raise PayloadError("payload", "is not a JSON object") from None
    if not isinstance(obj, dict):
        raise PayloadError("payload", "is not a JSON object")
    return obj


class _Reader:
    """Typed field access on one JSON object; `done()` refuses unknown fields."""

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise PayloadError(where, "must be an object")
        self._obj: dict[str, Any] = obj
        self._where = where
        self._seen: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def _get(self, key: str, optional: bool) -> Any:
        self._seen.add(key)
        if key not in self._obj:
            if optional:
                return None
            raise PayloadError(self._name(key), "is required")
        return self._obj[key]

    def integer(self, key: str, lo: int = 0, hi: int = _MAX_INT, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise PayloadError(self._name(key), f"must be an integer from {lo} to {hi}")
        return value

    def number(self, key: str, lo: float, hi: float, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
            raise PayloadError(self._name(key), f"must be a number from {lo:g} to {hi:g}")
        return float(value)

    def boolean(self, key: str) -> bool:
        value = self._get(key, False)
        if not isinstance(value, bool):
            raise PayloadError(self._name(key), "must be true or false")
        return value

    def text(self, key: str, pattern: re.Pattern[str] | None = None, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise PayloadError(self._name(key), "is not a valid text")
        return value

    def choice(self, key: str, kind: type[Enum], optional: bool = False) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        try:
            return kind(value)
        except (ValueError, TypeError):
            raise PayloadError(self._name(key), "is not one of the allowed values") from None

    def sub(self, key: str, optional: bool = False) -> _Reader | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        return _Reader(value, self._name(key))

    def raw(self, key: str) -> Any:
        return self._get(key, False)

    def done(self) -> None:
        unknown = sorted(set(self._obj) - self._seen)
        if unknown:
            raise PayloadError(self._name("<field>"), "unknown field")

    def version(self) -> None:
        if self.integer("v", 1, 1000) != SCHEMA_VERSION:
            raise PayloadError(self._name("v"), "unsupported schema version")


# --- state ---------------------------------------------------------------------------------------


class Presence(Enum):
    """The retained `state`: online (birth), offline (clean shutdown) or lost (Last Will)."""

    ONLINE = "online"
    OFFLINE = "offline"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class StateMessage:
    """Presence of a kiosk with the connection id (a Last Will of an older connection is stale)."""

    status: Presence
    conn: str
    ts: int
    agent: str = ""  # agent version (birth only)
    reason: str = ""  # why it went offline (e.g. tamper, shutdown)

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        obj: dict[str, Any] = {"v": SCHEMA_VERSION, "status": self.status.value}
        obj.update(conn=self.conn, ts=self.ts)
        if self.agent:
            obj["agent"] = self.agent
        if self.reason:
            obj["reason"] = self.reason
        return obj


_REASON = re.compile(r"^[a-z_]{1,32}\Z")


def parse_state(raw: bytes) -> StateMessage:
    """A `state` payload."""
    r = _Reader(decode(raw), "")
    r.version()
    msg = StateMessage(
        status=r.choice("status", Presence),
        conn=r.text("conn", _CONN),
        ts=r.integer("ts"),
        agent=r.text("agent", _VERSION_TEXT, optional=True) or "",
        reason=r.text("reason", _REASON, optional=True) or "",
    )
    r.done()
    return msg


# --- health --------------------------------------------------------------------------------------


class DeviceStatus(Enum):
    """What a probe of a device found."""

    OK = "ok"
    FAULT = "fault"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HealthMessage:
    """A health report (periodic and on change); `seq` increases across restarts."""

    seq: int
    ts: int
    reader: DeviceStatus
    sam: DeviceStatus
    sensor: DeviceStatus
    tamper: bool
    deactivated: bool
    gateway_reachable: bool | None
    gateway_rtt_ms: float | None
    cert_days_left: int | None
    cpu_temp_c: float | None
    mem_used_pct: float | None
    disk_free_pct: float | None
    uptime_s: int
    agent: str
    # the supervisor MCU, on kiosks that have one: link up, Pi power cycles, tamper latch
    mcu_link_up: bool | None = None
    mcu_resets: int | None = None
    mcu_tamper_latched: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        gw: dict[str, Any] = {"reachable": self.gateway_reachable}
        if self.gateway_rtt_ms is not None:
            gw["rtt_ms"] = round(self.gateway_rtt_ms, 1)
        return {
            "v": SCHEMA_VERSION,
            "seq": self.seq,
            "ts": self.ts,
            "reader": self.reader.value,
            "sam": self.sam.value,
            "sensor": self.sensor.value,
            "tamper": self.tamper,
            "deactivated": self.deactivated,
            "gateway": gw,
            "cert_days": self.cert_days_left,
            "cpu_c": None if self.cpu_temp_c is None else round(self.cpu_temp_c, 1),
            "mem_pct": None if self.mem_used_pct is None else round(self.mem_used_pct, 1),
            "disk_free_pct": None if self.disk_free_pct is None else round(self.disk_free_pct, 1),
            "uptime_s": self.uptime_s,
            "agent": self.agent,
        } | self._mcu_json()

    def _mcu_json(self) -> dict[str, Any]:
        if self.mcu_link_up is None:
            return {}
        return {
            "mcu": {
                "link_up": self.mcu_link_up,
                "resets": self.mcu_resets,
                "tamper_latched": bool(self.mcu_tamper_latched),
            }
        }

    def same_condition(self, other: HealthMessage | None) -> bool:
        """True if nothing an admin acts on changed (devices, tamper, deactivation, gateway)."""
        if other is None:
            return False
        return (
            self.reader,
            self.sam,
            self.sensor,
            self.tamper,
            self.deactivated,
            self.gateway_reachable,
        ) == (
            other.reader,
            other.sam,
            other.sensor,
            other.tamper,
            other.deactivated,
            other.gateway_reachable,
        )


def _nullable(r: _Reader, key: str, lo: float, hi: float) -> float | None:
    if r.raw(key) is None:
        return None
    value: float = r.number(key, lo, hi)
    return value


def parse_health(raw: bytes) -> HealthMessage:
    """A `health` payload."""
    r = _Reader(decode(raw), "")
    r.version()
    gw = r.sub("gateway")
    assert gw is not None
    reachable = gw.raw("reachable")
    if reachable is not None and not isinstance(reachable, bool):
        raise PayloadError("gateway.reachable", "must be true, false or null")
    rtt = gw.number("rtt_ms", 0.0, 600_000.0, optional=True)
    gw.done()
    cert_days = r.raw("cert_days")
    if cert_days is not None:
        cert_days = r.integer("cert_days", -100_000, 100_000)
    mcu = r.sub("mcu", optional=True)
    mcu_link_up = mcu_resets = mcu_latched = None
    if mcu is not None:
        mcu_link_up = mcu.boolean("link_up")
        if mcu.raw("resets") is not None:
            mcu_resets = mcu.integer("resets", 0, 1_000_000_000)
        mcu_latched = mcu.boolean("tamper_latched")
        mcu.done()
    msg = HealthMessage(
        seq=r.integer("seq"),
        ts=r.integer("ts"),
        reader=r.choice("reader", DeviceStatus),
        sam=r.choice("sam", DeviceStatus),
        sensor=r.choice("sensor", DeviceStatus),
        tamper=r.boolean("tamper"),
        deactivated=r.boolean("deactivated"),
        gateway_reachable=reachable,
        gateway_rtt_ms=rtt,
        cert_days_left=cert_days,
        cpu_temp_c=_nullable(r, "cpu_c", -100.0, 200.0),
        mem_used_pct=_nullable(r, "mem_pct", 0.0, 100.0),
        disk_free_pct=_nullable(r, "disk_free_pct", 0.0, 100.0),
        uptime_s=r.integer("uptime_s"),
        agent=r.text("agent", _VERSION_TEXT),
        mcu_link_up=mcu_link_up,
        mcu_resets=mcu_resets,
        mcu_tamper_latched=mcu_latched,
    )
    r.done()
    return msg


# --- usage ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageMessage:
    """Cumulative sessions per outcome on one local day. Keep the highest `seq` per day: a
    replayed message then changes nothing."""

    seq: int
    day: str
    utc_offset_h: int
    counts: Mapping[Outcome, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All sessions of the day."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        return {
            "v": SCHEMA_VERSION,
            "seq": self.seq,
            "day": self.day,
            "tz": self.utc_offset_h,
            "counts": {o.value: n for o, n in self.counts.items()},
        }


def parse_usage(raw: bytes) -> UsageMessage:
    """A `usage` payload."""
    r = _Reader(decode(raw), "")
    r.version()
    seq = r.integer("seq", 1)
    day = r.text("day", _DAY)
    tz = r.integer("tz", 7, 9)
    counts_obj = r.raw("counts")
    if not isinstance(counts_obj, dict):
        raise PayloadError("counts", "must be an object")
    counts: dict[Outcome, int] = {}
    for key, value in counts_obj.items():
        try:
            outcome = Outcome(key)
        except ValueError:
            raise PayloadError("counts", "unknown outcome") from None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INT:
            raise PayloadError("counts", "counts are non-negative integers")
        counts[outcome] = value
    r.done()
    return UsageMessage(seq, day, tz, counts)


# --- reported ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedDocument:
    """The last signed document the kiosk refused (the reason, the version if it had one)."""

    reason: str
    at: int
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The object."""
        obj: dict[str, Any] = {"reason": self.reason, "at": self.at}
        if self.version is not None:
            obj["version"] = self.version
        return obj


@dataclass(frozen=True, slots=True)
class ReportedMessage:
    """What the kiosk applied: the version of the desired state, and what it is now."""

    version: int
    deactivated: bool
    sanctions: tuple[str, ...]
    tampered: bool
    applied_at: int
    rejected: RejectedDocument | None = None

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        obj: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "version": self.version,
            "state": "deactivated" if self.deactivated else "active",
            "sanctions": sorted(self.sanctions),
            "tampered": self.tampered,
            "applied_at": self.applied_at,
        }
        if self.rejected is not None:
            obj["rejected"] = self.rejected.to_json()
        return obj


_REJECTION = re.compile(r"^[a-z_]{1,32}\Z")


def parse_reported(raw: bytes) -> ReportedMessage:
    """A `reported` payload."""
    r = _Reader(decode(raw), "")
    r.version()
    version = r.integer("version")
    state = r.text("state")
    if state not in ("active", "deactivated"):
        raise PayloadError("state", "is not one of the allowed values")
    sanctions = r.raw("sanctions")
    if not isinstance(sanctions, list) or not all(
        isinstance(s, str) and _REJECTION.match(s) for s in sanctions
    ):
        raise PayloadError("sanctions", "must be a list of names")
    tampered = r.boolean("tampered")
    applied_at = r.integer("applied_at")
    rejected = None
    sub = r.sub("rejected", optional=True)
    if sub is not None:
        rejected = RejectedDocument(
            reason=sub.text("reason", _REJECTION),
            at=sub.integer("at"),
            version=sub.integer("version", optional=True),
        )
        sub.done()
    r.done()
    return ReportedMessage(
        version, state == "deactivated", tuple(sanctions), tampered, applied_at, rejected
    )


# --- command acknowledgements ----------------------------------------------------------------


class AckStatus(Enum):
    """How the kiosk answered a command."""

    DONE = "done"
    REJECTED = "rejected"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AckMessage:
    """The answer to one command."""

    command_id: str
    status: AckStatus
    ts: int
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        obj: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "id": self.command_id,
            "status": self.status.value,
            "ts": self.ts,
        }
        if self.reason:
            obj["reason"] = self.reason
        return obj


def parse_ack(raw: bytes) -> AckMessage:
    """A `cmd/<id>/ack` payload."""
    r = _Reader(decode(raw), "")
    r.version()
    msg = AckMessage(
        command_id=r.text("id", _NONCE),
        status=r.choice("status", AckStatus),
        ts=r.integer("ts"),
        reason=r.text("reason", _REJECTION, optional=True) or "",
    )
    r.done()
    return msg
