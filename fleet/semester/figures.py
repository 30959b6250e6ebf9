"""The figures of a semester report, per month: what the fleet store counted, reconciled with
what the gateway counted. Pure: `compute` takes what `collect` (fleet/semester/sources.py) read.

Which counts are compared: the answers the gateway itself gives (the Dukcapil upstream's and its
own anti-scraping refusal); the kiosk's own outcomes (card unreadable, finger mismatch, timeout,
cancelled, ...) never reach the gateway. Every difference is listed, none is smoothed over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fleet.semester.period import Semester, days_in_month
from fleet.store.base import Alert, AlertKind, AuditLine, DeviceState, SanctionInForce
from protocol.outcomes import Outcome

# Decided by the gateway: the upstream's answers and the anti-scraping refusal.
RECONCILED = (*(o.value for o in Outcome if o.info.upstream), Outcome.PATTERN_BLOCKED.value)
# Look-ups charged to the daily quota (the gateway gives a unit back for the parameter checks).
QUOTA_CHARGED = tuple(
    o.value
    for o in (
        Outcome.FOUND,
        Outcome.FOUND_DECEASED,
        Outcome.FOUND_DUPLICATE,
        Outcome.NOT_FOUND,
        Outcome.FOUND_INACTIVE,
    )
)
RETURN_ACCEPTED = "RETURN_ACCEPTED"
RETURN_REFUSED = "RETURN_REFUSED"
OUTCOMES = tuple(o.value for o in Outcome)


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything a report is made of, as read from the store and the gateway."""

    institution: str
    semester: Semester
    made_at: int
    admin: str
    usage: Mapping[tuple[str, str], int]  # fleet store: (day, outcome) -> sessions
    kiosks_by_month: Mapping[str, int]
    kiosk_states: Mapping[str, DeviceState]  # the institution's registered kiosks now
    audit: Sequence[AuditLine]  # lines about the institution or its kiosks
    alerts: Sequence[Alert]  # alerts about the institution or its kiosks
    sanctions: Sequence[SanctionInForce]  # in force now
    gateway_usage: Mapping[tuple[str, str], int] | None  # (day, outcome); None: unreachable
    gateway_error: str | None = None
    daily_limit: int | None = None  # the gateway's daily quota now (None: none, or unknown)


@dataclass(frozen=True, slots=True)
class Difference:
    """A count the fleet store and the gateway disagree on."""

    month: str
    outcome: str
    fleet: int
    gateway: int


@dataclass(slots=True)
class MonthFigures:
    """One month of the report (or the semester's total, month "total")."""

    month: str
    outcomes: dict[str, int] = field(default_factory=dict)
    quota_used: int = 0
    quota_allowed: int | None = None
    quota_days_out: int = 0
    scraping_refused: int = 0
    found: int = 0
    balikan_sent: int | None = None
    balikan_refused: int | None = None
    kiosks_counting: int = 0
    deactivations: int = 0
    reactivations: int = 0
    tamper_events: int = 0
    alerts: int = 0
    sanctions: list[str] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        """All sessions counted by the kiosks."""
        return sum(self.outcomes.values())

    def row(self) -> dict[str, object]:
        """The annex row (CSV and JSON)."""
        return {
            "month": self.month,
            "sessions": self.sessions,
            **{f"outcome_{o}": self.outcomes.get(o, 0) for o in OUTCOMES},
            "quota_used": self.quota_used,
            "quota_allowed": self.quota_allowed,
            "quota_days_out": self.quota_days_out,
            "scraping_refused": self.scraping_refused,
            "found": self.found,
            "balikan_sent": self.balikan_sent,
            "balikan_refused": self.balikan_refused,
            "kiosks_counting": self.kiosks_counting,
            "deactivations": self.deactivations,
            "reactivations": self.reactivations,
            "tamper_events": self.tamper_events,
            "alerts": self.alerts,
            "sanctions": " ".join(self.sanctions),
        }


@dataclass(frozen=True, slots=True)
class ReportData:
    """A whole report."""

    sources: Sources
    months: list[MonthFigures]
    total: MonthFigures
    differences: list[Difference]
    kiosks_now: dict[str, int]
    incidents: list[Alert]

    @property
    def reconciled(self) -> bool | None:
        """True when the gateway agrees everywhere, False on a difference, None if unreached."""
        if self.sources.gateway_usage is None:
            return None
        return not self.differences


def _month_of(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m")


def compute(src: Sources) -> ReportData:
    """Every figure of the report from its sources."""
    months = {m: MonthFigures(m) for m in src.semester.months}
    days_out: dict[str, set[str]] = {m: set() for m in months}
    for (day, outcome), n in src.usage.items():
        fig = months.get(day[:7])
        if fig is None or n == 0:
            continue
        fig.outcomes[outcome] = fig.outcomes.get(outcome, 0) + n
        if outcome == Outcome.QUOTA_EXHAUSTED.value:
            days_out[fig.month].add(day)
    gateway: dict[str, dict[str, int]] = {m: {} for m in months}
    if src.gateway_usage is not None:
        for (day, outcome), n in src.gateway_usage.items():
            if day[:7] in gateway:
                got = gateway[day[:7]]
                got[outcome] = got.get(outcome, 0) + n
    for m, fig in months.items():
        fig.quota_used = sum(fig.outcomes.get(o, 0) for o in QUOTA_CHARGED)
        if src.daily_limit is not None:
            fig.quota_allowed = src.daily_limit * days_in_month(m)
        fig.quota_days_out = len(days_out[m])
        fig.scraping_refused = fig.outcomes.get(Outcome.PATTERN_BLOCKED.value, 0)
        fig.found = fig.outcomes.get(Outcome.FOUND.value, 0)
        if src.gateway_usage is not None:
            fig.balikan_sent = gateway[m].get(RETURN_ACCEPTED, 0)
            fig.balikan_refused = gateway[m].get(RETURN_REFUSED, 0)
        fig.kiosks_counting = src.kiosks_by_month.get(m, 0)
    _audit_figures(src, months)
    _alert_figures(src, months)
    _sanction_figures(src, months)
    differences = []
    if src.gateway_usage is not None:
        for m, fig in months.items():
            for outcome in RECONCILED:
                ours, theirs = fig.outcomes.get(outcome, 0), gateway[m].get(outcome, 0)
                if ours != theirs:
                    differences.append(Difference(m, outcome, ours, theirs))
    kiosks_now = {s.value: 0 for s in DeviceState}
    for state in src.kiosk_states.values():
        kiosks_now[state.value] += 1
    first, last = src.semester.months[0], src.semester.months[-1]
    incidents = [a for a in src.alerts if first <= _month_of(a.raised_at) <= last]
    incidents.sort(key=lambda a: (a.raised_at, a.key))
    ordered = list(months.values())
    return ReportData(src, ordered, _total(ordered), differences, kiosks_now, incidents)


def _audit_figures(src: Sources, months: dict[str, MonthFigures]) -> None:
    """Deactivations and reactivations of the institution's kiosks that were carried out."""
    for line in src.audit:
        e = line.entry
        fig = months.get(_month_of(e.at))
        if fig is None or e.target not in src.kiosk_states or e.outcome not in ("done", "timeout"):
            continue
        if e.action == "deactivate":
            fig.deactivations += 1
        elif e.action == "reactivate":
            fig.reactivations += 1


def _alert_figures(src: Sources, months: dict[str, MonthFigures]) -> None:
    for alert in src.alerts:
        fig = months.get(_month_of(alert.raised_at))
        if fig is None:
            continue
        fig.alerts += 1
        if alert.kind is AlertKind.TAMPER:
            fig.tamper_events += 1


def _sanction_figures(src: Sources, months: dict[str, MonthFigures]) -> None:
    """Sanctions in force at any time of each month: the institution's from the audit trail's
    set and lift lines, and those in force now (since when they were set)."""
    spans: list[tuple[str, int, int | None]] = []
    opened: dict[str, int] = {}
    label = f"institution:{src.institution}"
    for line in sorted(src.audit, key=lambda x: x.seq):
        e = line.entry
        name = e.detail.get("sanction")
        if e.target != label or not isinstance(name, str) or e.outcome == "failed":
            continue
        if e.action == "sanction_set":
            opened.setdefault(name, e.at)
        elif e.action == "sanction_lift" and name in opened:
            spans.append((name, opened.pop(name), e.at))
    for name, since in opened.items():
        spans.append((name, since, None))
    for s in src.sanctions:
        name = s.sanction.value if s.target == src.institution else f"{s.sanction.value}@{s.target}"
        if not any(n == name and until is None for n, _, until in spans):
            spans.append((name, s.since, None))
    for m, fig in months.items():
        names = {
            n
            for n, since, until in spans
            if _month_of(since) <= m and (until is None or _month_of(until) >= m)
        }
        fig.sanctions = sorted(names)


def _total(months: Sequence[MonthFigures]) -> MonthFigures:
    total = MonthFigures("total")
    for fig in months:
        for o, n in fig.outcomes.items():
            total.outcomes[o] = total.outcomes.get(o, 0) + n
        total.quota_used += fig.quota_used
        if fig.quota_allowed is not None:
            total.quota_allowed = (total.quota_allowed or 0) + fig.quota_allowed
        total.quota_days_out += fig.quota_days_out
        total.scraping_refused += fig.scraping_refused
        total.found += fig.found
        if fig.balikan_sent is not None:
            total.balikan_sent = (total.balikan_sent or 0) + fig.balikan_sent
            total.balikan_refused = (total.balikan_refused or 0) + (fig.balikan_refused or 0)
        total.kiosks_counting = max(total.kiosks_counting, fig.kiosks_counting)
        total.deactivations += fig.deactivations
        total.reactivations += fig.reactivations
        total.tamper_events += fig.tamper_events
        total.alerts += fig.alerts
        total.sanctions = sorted(set(total.sanctions) | set(fig.sanctions))
    return total
