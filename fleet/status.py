"""The fleet's status from retained messages: one row per kiosk, as a table or JSON."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fleet.mqtt import Received
from fleet.reports import desired_version
from protocol.mqtt import (
    Channel,
    HealthMessage,
    PayloadError,
    Presence,
    ReportedMessage,
    StateMessage,
    TopicError,
    parse_health,
    parse_reported,
    parse_state,
    parse_topic,
)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """What the admin sees of one kiosk."""

    device: str
    presence: str  # online, offline, lost, unknown
    online: bool
    last_seen: int | None
    deactivated: bool | None
    desired_version: int | None
    reported_version: int | None
    pending: bool  # a desired version the kiosk has not reported yet
    tamper: bool | None
    reader: str
    sam: str
    sensor: str
    cert_days_left: int | None
    gateway_reachable: bool | None
    agent: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return asdict(self)


@dataclass
class _Seen:
    state: StateMessage | None = None
    health: HealthMessage | None = None
    reported: ReportedMessage | None = None
    desired: int | None = None


def build_rows(
    messages: Iterable[Received], keys: Mapping[str, Any] | None = None
) -> list[DeviceRow]:
    """Rows for every kiosk that has a retained state, health, reported or desired message."""
    seen: dict[str, _Seen] = {}
    for msg in messages:
        try:
            ref = parse_topic(msg.topic)
        except TopicError:
            continue
        s = seen.setdefault(ref.device, _Seen())
        try:
            if ref.channel is Channel.STATE and msg.payload:
                s.state = parse_state(msg.payload)
            elif ref.channel is Channel.HEALTH and msg.payload:
                s.health = parse_health(msg.payload)
            elif ref.channel is Channel.REPORTED and msg.payload:
                s.reported = parse_reported(msg.payload)
            elif ref.channel is Channel.DESIRED and msg.payload:
                s.desired = desired_version(msg.payload, keys) or None
        except PayloadError:
            continue
    return [_row(device, s) for device, s in sorted(seen.items())]


def _row(device: str, s: _Seen) -> DeviceRow:
    h, r, st = s.health, s.reported, s.state
    presence = st.status.value if st is not None else "unknown"
    times = [t for t in (st.ts if st else None, h.ts if h else None) if t is not None]
    deactivated = r.deactivated if r is not None else (h.deactivated if h is not None else None)
    tamper = (r.tampered if r is not None else False) or (h.tamper if h is not None else False)
    reported_version = r.version if r is not None else None
    return DeviceRow(
        device=device,
        presence=presence,
        online=st is not None and st.status is Presence.ONLINE,
        last_seen=max(times) if times else None,
        deactivated=deactivated,
        desired_version=s.desired,
        reported_version=reported_version,
        pending=s.desired is not None and (reported_version or 0) < s.desired,
        tamper=tamper if (r is not None or h is not None) else None,
        reader=h.reader.value if h else "-",
        sam=h.sam.value if h else "-",
        sensor=h.sensor.value if h else "-",
        cert_days_left=h.cert_days_left if h else None,
        gateway_reachable=h.gateway_reachable if h else None,
        agent=h.agent if h else (st.agent if st and st.agent else "-"),
    )


def _when(ts: int | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def version_text(version: int | None) -> str:
    """A version as the UTC time it was issued at (versions are Unix times), else the number."""
    if version is None:
        return "-"
    if 10**9 <= version < 4_102_444_800:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(version))
    return str(version)


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def format_table(rows: list[DeviceRow]) -> str:
    """A plain-text table (times in UTC)."""
    head = (
        "DEVICE",
        "STATE",
        "LAST SEEN (UTC)",
        "DEACTIVATED",
        "VERSION (UTC)",
        "TAMPER",
        "READER/SAM/SENSOR",
        "CERT DAYS",
    )
    table = [head]
    for r in rows:
        version = version_text(r.reported_version)
        if r.pending:
            version += f" (pending {version_text(r.desired_version)})"
        table.append(
            (
                r.device,
                r.presence,
                _when(r.last_seen),
                _yes(r.deactivated),
                version,
                _yes(r.tamper),
                f"{r.reader}/{r.sam}/{r.sensor}",
                "-" if r.cert_days_left is None else str(r.cert_days_left),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    if not rows:
        lines.append("(no kiosk has reported yet)")
    return "\n".join(line.rstrip() for line in lines)
