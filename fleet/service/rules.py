"""The alert rules, pure: what should be open for a kiosk or an institution, given what the
store and the gateway say now. The engine (`alerting`) raises what is wanted and not open, and
clears what is open and no longer wanted.

Keys are `<kind>:<target>` (`tamper:KIOSK-1`, `quota_nearly_used:perpus-a`): one open alert of a
kind per kiosk or institution. Details are counts and states only, Indonesian then English.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from fleet.semester.period import Semester, due_reminder
from fleet.service.settings import AlertSettings
from fleet.store.base import AlertKind, DeviceState, FleetRow
from protocol.mqtt import DeviceStatus, HealthMessage
from protocol.mqtt.health import CLOCK_TOLERANCE_S as HEALTH_CLOCK_TOLERANCE_S
from protocol.signed import MAX_DOCUMENT_BYTES
from protocol.strict import Reader, StrictError
from protocol.strictjson import strict_loads

DEVICE_KINDS = (
    AlertKind.TAMPER,
    AlertKind.LOST,
    AlertKind.CERT_EXPIRING,
    AlertKind.DEVICE_FAULT,
    AlertKind.DEACTIVATION_PENDING,
)  # storage, clock and expired-certificate alerts: by health messages alone (no store column)
# decided by one health message
HEALTH_KINDS = (
    AlertKind.TAMPER,
    AlertKind.DEVICE_FAULT,
    AlertKind.STORAGE_FAILURE,
    AlertKind.CLOCK_OFFSET,
    AlertKind.CERT_EXPIRED,
)
CLOCK_TOLERANCE_S = HEALTH_CLOCK_TOLERANCE_S  # a kiosk clock further off the gateway's: alert
_BAD = (DeviceStatus.FAULT, DeviceStatus.MISSING)
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class Wanted:
    """An alert that should be open."""

    kind: AlertKind
    target: str
    detail: str

    @property
    def key(self) -> str:
        """`<kind>:<target>`."""
        return alert_key(self.kind, self.target)


def alert_key(kind: AlertKind, target: str) -> str:
    """The key of the open alert of `kind` about `target`."""
    return f"{kind.value}:{target}"


@dataclass(frozen=True, slots=True)
class DesiredInfo:
    """What the retained `desired` of a kiosk asks (read, not verified: only admins may write
    it, and it only feeds an alert)."""

    version: int
    deactivated: bool
    issued_at: int


def read_desired(raw: bytes) -> DesiredInfo | None:
    """The version, state and issue time of a retained signed desired state; None if it is not
    one (an erased retained message is empty)."""
    if not raw or len(raw) > MAX_DOCUMENT_BYTES:
        return None
    try:
        envelope = Reader(strict_loads(raw))
        text = envelope.text("body")
        body = Reader(strict_loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))))
        if body.text("kind") != "desired":
            return None
        return DesiredInfo(
            body.integer("version"),
            body.choice("state", ("active", "deactivated")) == "deactivated",
            body.integer("issued_at"),
        )
    except (StrictError, ValueError, binascii.Error, RecursionError):
        return None


def health_alerts(device: str, health: HealthMessage) -> list[Wanted]:
    """Tamper, device faults, storage, clock and an expired certificate, from one report."""
    wanted = []
    if health.tamper or health.mcu_tamper_latched:
        wanted.append(Wanted(AlertKind.TAMPER, device, "tamper terdeteksi / tamper detected"))
    if health.cert_expired:
        wanted.append(
            Wanted(
                AlertKind.CERT_EXPIRED,
                device,
                "sertifikat kios kedaluwarsa, layanan ditolak; periksa perpanjangan (EST) / "
                "the kiosk's certificate expired, sessions refused; check its renewal (EST)",
            )
        )
    if health.storage_ok is False:
        wanted.append(
            Wanted(
                AlertKind.STORAGE_FAILURE,
                device,
                "penyimpanan tidak dapat ditulis, layanan ditolak / "
                "storage cannot be written, sessions refused",
            )
        )
    offset = health.clock_offset_s
    if offset is not None and health.clock_off:
        wanted.append(
            Wanted(
                AlertKind.CLOCK_OFFSET,
                device,
                f"jam kios selisih {offset} detik dari gateway / "
                f"kiosk clock {offset} s off the gateway's",
            )
        )
    parts = (("reader", health.reader), ("sam", health.sam), ("sensor", health.sensor))
    bad = [f"{name} {status.value}" for name, status in parts if status in _BAD]
    if bad:
        which = ", ".join(bad)
        wanted.append(
            Wanted(AlertKind.DEVICE_FAULT, device, f"perangkat bermasalah / device fault: {which}")
        )
    return wanted


def device_alerts(
    row: FleetRow,
    now: int,
    settings: AlertSettings,
    desired: DesiredInfo | None = None,
    deactivated_since: int | None = None,
) -> list[Wanted]:
    """Every device alert wanted for one row of the fleet table.

    `deactivated_since`: when the registry's deactivation was made (its audit line), for a kiosk
    registered as deactivated that still reports itself active."""
    entry, device = row.entry, row.device
    if entry is not None and entry.state is DeviceState.DECOMMISSIONED:
        return []
    wanted = [] if row.health is None else health_alerts(device, row.health)
    if (
        row.reported is not None
        and row.reported.tampered
        and not any(w.kind is AlertKind.TAMPER for w in wanted)
    ):
        wanted.append(Wanted(AlertKind.TAMPER, device, "tamper dilaporkan / tamper reported"))
    if row.last_seen is not None and now - row.last_seen > settings.lost_after_min * 60:
        minutes = (now - row.last_seen) // 60
        how = row.presence or "silent"
        wanted.append(
            Wanted(
                AlertKind.LOST,
                device,
                f"tidak terhubung / not heard for {minutes} min ({how})",
            )
        )
    days = _cert_days(row, now)
    if days is not None and days <= settings.cert_days:
        wanted.append(
            Wanted(
                AlertKind.CERT_EXPIRING,
                device,
                f"sertifikat habis dalam {days} hari / certificate expires in {days} days"
                if days >= 0
                else "sertifikat sudah habis, kios menolak sesi / certificate expired, "
                "the kiosk refuses sessions",
            )
        )
    pending = _pending(row, now, settings, desired, deactivated_since)
    if pending is not None:
        wanted.append(Wanted(AlertKind.DEACTIVATION_PENDING, device, pending))
    return wanted


def _cert_days(row: FleetRow, now: int) -> int | None:
    days = []
    if row.health is not None and row.health.cert_days_left is not None:
        days.append(row.health.cert_days_left)
    if row.entry is not None and row.entry.cert_expires is not None:
        days.append((row.entry.cert_expires - now) // DAY_S)
    return min(days) if days else None


def _pending(
    row: FleetRow,
    now: int,
    settings: AlertSettings,
    desired: DesiredInfo | None,
    deactivated_since: int | None,
) -> str | None:
    limit = settings.deactivation_pending_min * 60
    applied = row.reported.version if row.reported is not None else None
    if (
        desired is not None
        and (applied is None or applied < desired.version)
        and now - desired.issued_at > limit
    ):
        state = "nonaktif / deactivated" if desired.deactivated else "aktif / active"
        return (
            f"versi {desired.version} ({state}) belum diterapkan / not applied; "
            f"reported {applied if applied is not None else '-'}"
        )
    if (
        row.entry is not None
        and row.entry.state is DeviceState.DEACTIVATED
        and (row.reported is None or not row.reported.deactivated)
        and deactivated_since is not None
        and now - deactivated_since > limit
    ):
        return "penonaktifan belum diterapkan / deactivation not applied"
    return None


def quota_alert(institution: str, used: int, limit: int | None, ratio: float) -> Wanted | None:
    """The quota alert of an institution whose daily quota is `ratio` used, else None."""
    if limit is None or limit <= 0 or used < ratio * limit:
        return None
    return Wanted(
        AlertKind.QUOTA_NEARLY_USED,
        institution,
        f"kuota harian terpakai {used} dari {limit} / daily quota {used} of {limit} used",
    )


def scraping_alert(institution: str, jump: int, threshold: int) -> Wanted | None:
    """The anti-scraping alert when refusals rose by at least `threshold` since the last poll."""
    if jump < threshold:
        return None
    return Wanted(
        AlertKind.SCRAPING,
        institution,
        f"penolakan anti-scraping naik {jump} / anti-scraping refusals up by {jump}",
    )


def report_due_alert(
    institution: str, today: dt.date, made: set[str], since: dt.date | None
) -> Wanted | None:
    """The reminder of a semester report due within 14 days (or overdue by a month at most)
    that was not made; `made`: the semesters (YYYY-1, YYYY-2) whose report was made."""
    due = due_reminder(today, {Semester.parse(m) for m in made}, since)
    if due is None:
        return None
    semester, left = due
    when = (
        f"jatuh tempo {left} hari lagi / due in {left} days"
        if left >= 0
        else f"terlambat {-left} hari / overdue by {-left} days"
    )
    return Wanted(
        AlertKind.REPORT_DUE,
        institution,
        f"laporan semester {semester} belum dibuat, {when} / semester report {semester} not made",
    )


def balikan_alert(
    institution: str, found: int, sent: int, ratio: float, min_found: int
) -> Wanted | None:
    """Data balikan behind: fewer returns accepted than `ratio` of the FOUND look-ups (when at
    least `min_found` were FOUND)."""
    if found < min_found or sent >= ratio * found:
        return None
    return Wanted(
        AlertKind.BALIKAN_BEHIND,
        institution,
        f"data balikan {sent} dari {found} FOUND / data returns {sent} of {found} FOUND look-ups",
    )
