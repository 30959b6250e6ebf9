"""`health`: a kiosk's periodic and on-change report of its devices, tamper state and host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from protocol.mqtt.payload import SCHEMA_VERSION, VERSION_TEXT, read
from protocol.strict import Reader

MISSABLE = ("pcscd", "reader", "sam", "sensor", "mcu")
"""The configured devices a kiosk may report missing (the agent is then not ready)."""
_MISSABLE = re.compile(r"^(pcscd|reader|sam|sensor|mcu)\Z")


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
    # the state folder can be written (None: not reported); False: the kiosk refuses sessions
    storage_ok: bool | None = None
    # the kiosk's clock against the gateway's (gateway minus kiosk, seconds), None: not known
    clock_offset_s: int | None = None
    # configured devices missing or silent (MISSABLE names); the agent is not ready while any is
    missing_devices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The payload object."""
        gw: dict[str, Any] = {"reachable": self.gateway_reachable}
        if self.gateway_rtt_ms is not None:
            gw["rtt_ms"] = round(self.gateway_rtt_ms, 1)
        return (
            {
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
                "disk_free_pct": None
                if self.disk_free_pct is None
                else round(self.disk_free_pct, 1),
                "uptime_s": self.uptime_s,
                "agent": self.agent,
            }
            | self._mcu_json()
            | ({} if self.storage_ok is None else {"storage_ok": self.storage_ok})
            | ({} if self.clock_offset_s is None else {"clock_offset_s": self.clock_offset_s})
            | ({"missing": list(self.missing_devices)} if self.missing_devices else {})
        )

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
            self.storage_ok,
            self.missing_devices,
        ) == (
            other.reader,
            other.sam,
            other.sensor,
            other.tamper,
            other.deactivated,
            other.gateway_reachable,
            other.storage_ok,
            other.missing_devices,
        )


def _nullable(r: Reader, key: str, lo: float, hi: float) -> float | None:
    """A number that must be present but may be null (a probe that found nothing)."""
    return None if r.raw(key) is None else r.number(key, lo=lo, hi=hi)


def parse_health(raw: bytes) -> HealthMessage:
    """A `health` payload."""
    r = read(raw)
    gw = r.nested("gateway")
    reachable = None if gw.raw("reachable") is None else gw.boolean("reachable")
    rtt = gw.number("rtt_ms", None, 0.0, 600_000.0)
    gw.done()
    cert_days = (
        None if r.raw("cert_days") is None else r.integer("cert_days", lo=-100_000, hi=100_000)
    )
    mcu = r.nested("mcu", None)
    mcu_link_up = mcu_resets = mcu_latched = None
    if mcu is not None:
        mcu_link_up = mcu.boolean("link_up")
        if mcu.raw("resets") is not None:
            mcu_resets = mcu.integer("resets", hi=1_000_000_000)
        mcu_latched = mcu.boolean("tamper_latched")
        mcu.done()
    msg = HealthMessage(
        seq=r.integer("seq"),
        ts=r.integer("ts"),
        reader=r.member("reader", DeviceStatus),
        sam=r.member("sam", DeviceStatus),
        sensor=r.member("sensor", DeviceStatus),
        tamper=r.boolean("tamper"),
        deactivated=r.boolean("deactivated"),
        gateway_reachable=reachable,
        gateway_rtt_ms=rtt,
        cert_days_left=cert_days,
        cpu_temp_c=_nullable(r, "cpu_c", -100.0, 200.0),
        mem_used_pct=_nullable(r, "mem_pct", 0.0, 100.0),
        disk_free_pct=_nullable(r, "disk_free_pct", 0.0, 100.0),
        uptime_s=r.integer("uptime_s"),
        agent=r.text("agent", pattern=VERSION_TEXT),
        mcu_link_up=mcu_link_up,
        mcu_resets=mcu_resets,
        mcu_tamper_latched=mcu_latched,
        storage_ok=r.boolean("storage_ok") if r.has("storage_ok") else None,
        clock_offset_s=(
            r.integer("clock_offset_s", lo=-(10**10), hi=10**10)
            if r.has("clock_offset_s")
            else None
        ),
        missing_devices=tuple(r.texts("missing", [], pattern=_MISSABLE)),
    )
    r.done()
    return msg
