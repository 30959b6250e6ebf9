"""What a kiosk's page shows: registry entry, bindings, health history, usage per day as an
inline SVG bar chart with its data table, audit lines, alerts and sanctions (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from fleet.dashboard import labels
from fleet.dashboard.labels import Label
from fleet.dashboard.views import (
    AlertLine,
    SanctionLine,
    Stamp,
    cert_days,
    cert_tone,
    presence_label,
    stamp,
    state_label,
)
from fleet.store.base import AuditLine, DeviceEntry, FleetRow, HealthPoint, UsageDay
from protocol.mqtt import HealthMessage
from protocol.outcomes import Outcome
from protocol.regions import PROVINCES, utc_offset_hours

USAGE_DAYS = 30
HEALTH_ROWS = 50
CHART_W, CHART_H = 720, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 12, 28


@dataclass(frozen=True, slots=True)
class Segment:
    """A bar's part: one outcome group's count, where it is drawn."""

    group: str
    count: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Bar:
    """One day's bar."""

    day: str
    label: str  # the x-axis text ("" for days without one)
    x: float
    width: float
    total: int
    segments: tuple[Segment, ...]
    groups: dict[str, int]


@dataclass(frozen=True, slots=True)
class Chart:
    """The usage chart: bars, gridlines and what the text alternative says."""

    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value)
    width: int
    height: int
    baseline: float
    total: int
    peak: Bar | None
    first: str
    last: str
    outcomes: list[tuple[Outcome, int]]  # totals over the period, largest first
    x0: int = _LEFT
    x1: int = CHART_W - _RIGHT
    legend: tuple[tuple[str, Label], ...] = labels.USAGE_GROUPS


@dataclass(frozen=True, slots=True)
class HealthLine:
    """One health report as the history table shows it."""

    at: Stamp
    health: HealthMessage
    parts: tuple[tuple[Label, Label], ...]
    tamper: Label
    deactivated: Label
    gateway: Label
    storage: Label  # the kiosk's state folder
    clock: Label  # the kiosk's clock against the gateway's


@dataclass(frozen=True, slots=True)
class AuditView:
    """One audit line as the kiosk page shows it."""

    line: AuditLine
    at: Stamp
    action: Label
    outcome: Label


@dataclass(frozen=True, slots=True)
class KioskPage:
    """Everything a kiosk's page shows."""

    device: str
    entry: DeviceEntry | None
    state: Label
    presence: Label
    last_seen: Stamp | None
    region: str
    registered: Stamp | None
    cert_expires: Stamp | None
    cert_days: int | None
    cert_tone: str
    bindings: list[tuple[Label, str]]
    version: Stamp | None
    health: list[HealthLine]
    chart: Chart
    audit: list[AuditView]
    alerts: list[AlertLine]
    sanctions: list[SanctionLine]


def usage_window(entry: DeviceEntry | None, now: float) -> tuple[str, str]:
    """The first and last local day of the chart (the kiosk's province's time zone)."""
    province = entry.region[:2] if entry is not None else ""
    offset = utc_offset_hours(province) if province in PROVINCES else 7
    today = dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(hours=offset)
    first = today.date() - dt.timedelta(days=USAGE_DAYS - 1)
    return first.isoformat(), today.date().isoformat()


def _nice(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _outcome(code: str) -> Outcome | None:
    try:
        return Outcome(code)
    except ValueError:
        return None


def usage_chart(days: list[UsageDay], first: str, last: str) -> Chart:
    """Bars of sessions per local day from `first` to `last`, stacked by outcome group."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    span = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    by_day = {u.day: u for u in days}
    per_outcome: Counter[Outcome] = Counter()
    grouped: list[dict[str, int]] = []
    for day in span:
        groups = dict.fromkeys((g for g, _ in labels.USAGE_GROUPS), 0)
        usage = by_day.get(day.isoformat())
        for code, n in usage.counts.items() if usage else ():
            outcome = _outcome(code)
            groups[labels.usage_group(outcome) if outcome else "kiosk"] += n
            if outcome is not None:
                per_outcome[outcome] += n
        grouped.append(groups)
    top = _nice(max((sum(g.values()) for g in grouped), default=0))
    plot_h = CHART_H - _TOP - _BOTTOM
    slot = (CHART_W - _LEFT - _RIGHT) / max(1, len(span))
    baseline = float(CHART_H - _BOTTOM)
    bars = []
    for i, (day, groups) in enumerate(zip(span, grouped, strict=True)):
        y = baseline
        segments = []
        for group, count in groups.items():
            h = plot_h * count / top
            y -= h
            if count:
                segments.append(Segment(group, count, round(y, 1), round(h, 1)))
        label = day.strftime("%d/%m") if i % 5 == 0 or i == len(span) - 1 else ""
        x = _LEFT + i * slot + slot * 0.15
        bars.append(
            Bar(
                day.isoformat(),
                label,
                round(x, 1),
                round(slot * 0.7, 1),
                sum(groups.values()),
                tuple(segments),
                groups,
            )
        )
    values = sorted({0, top // 2, top}) if top % 2 == 0 else [0, top]
    ticks = [(round(baseline - plot_h * v / top, 1), v) for v in values]
    total = sum(b.total for b in bars)
    peak = max(bars, key=lambda b: b.total) if total else None
    return Chart(
        bars, ticks, CHART_W, CHART_H, baseline, total, peak, first, last, per_outcome.most_common()
    )


def _health_line(point: HealthPoint) -> HealthLine:
    h = point.health
    parts = tuple(
        (labels.PART_NAMES[name], labels.PART[status])
        for name, status in (("reader", h.reader), ("sam", h.sam), ("sensor", h.sensor))
    )
    if h.gateway_reachable is None:
        gateway = labels.UNKNOWN
    elif h.gateway_reachable:
        gateway = Label("Terjangkau", "Reachable", "ok")
    else:
        gateway = Label("Tak terjangkau", "Unreachable", "bad")
    return HealthLine(
        at=stamp(h.ts) or Stamp("", ""),
        health=h,
        parts=parts,
        tamper=labels.YES_BAD if h.tamper else labels.NO_OK,
        deactivated=Label("Ya", "Yes", "warn") if h.deactivated else Label("Tidak", "No", "ok"),
        gateway=gateway,
        storage=_storage(h.storage_ok),
        clock=_clock(h.clock_offset_s, h.clock_off),
    )


def _storage(ok: bool | None) -> Label:
    if ok is None:
        return labels.UNKNOWN
    if ok:
        return Label("Dapat ditulis", "Writable", "ok")
    return Label("Tidak dapat ditulis", "Cannot be written", "bad")


def _clock(offset: int | None, off: bool) -> Label:
    if offset is None:
        return labels.UNKNOWN
    return Label(f"selisih {offset} detik", f"{offset} s off", "bad" if off else "ok")


def kiosk_page(
    device: str,
    entry: DeviceEntry | None,
    row: FleetRow | None,
    history: list[HealthPoint],
    usage: list[UsageDay],
    audit: list[AuditLine],
    alerts: list[AlertLine],
    sanctions: list[SanctionLine],
    now: float,
) -> KioskPage:
    """A kiosk's page from what the store holds of it."""
    first, last = usage_window(entry, now)
    latest = history[0].health if history else (row.health if row else None)
    days = cert_days(
        latest.cert_days_left if latest else None, entry.cert_expires if entry else None, now
    )
    bindings = [
        (labels.PART_NAMES.get(part, Label(part, part)), serial)
        for part, serial in sorted((entry.bindings if entry else {}).items())
    ]
    return KioskPage(
        device=device,
        entry=entry,
        state=state_label(entry),
        presence=presence_label(row.presence if row else None),
        last_seen=stamp(row.last_seen if row else (history[0].at if history else None)),
        region=labels.region(entry.region) if entry else "",
        registered=stamp(entry.registered_at) if entry and entry.registered_at else None,
        cert_expires=stamp(entry.cert_expires) if entry else None,
        cert_days=days,
        cert_tone=cert_tone(days),
        bindings=bindings,
        version=stamp(row.reported.version) if row and row.reported else None,
        health=[_health_line(p) for p in history[:HEALTH_ROWS]],
        chart=usage_chart(usage, first, last),
        audit=[
            AuditView(
                a,
                stamp(a.entry.at) or Stamp("", ""),
                labels.action(a.entry.action),
                labels.outcome(a.entry.outcome),
            )
            for a in reversed(audit)
        ],
        alerts=alerts,
        sanctions=sanctions,
    )
