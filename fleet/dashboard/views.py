"""What the fleet, alerts and sanctions pages show, built from the store's records (pure, no I/O).

Query strings carry only ids and codes; each is checked here, and a bad one is a BadParameter
naming the parameter (never echoing its value).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from fleet.dashboard import labels
from fleet.dashboard.labels import Label
from fleet.store.base import (
    Alert,
    DeviceEntry,
    DeviceFilter,
    DeviceState,
    FleetRow,
    SanctionInForce,
    Scope,
)
from protocol.regions import PROVINCES

PAGE_SIZE = 200
CERT_WARN_DAYS = 30
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
_REGION = re.compile(r"^[0-9]{2}(?:[0-9]{2})?\Z")
_PAGE = re.compile(r"^[1-9][0-9]{0,5}\Z")
FLEET_PARAMETERS = ("institution", "region", "state", "page")


class BadParameter(Exception):
    """A query parameter the page does not take, or a value it cannot use."""

    def __init__(self, name: str, why_id: str, why_en: str) -> None:
        super().__init__(f"query parameter {name!r}: {why_en}")
        self.name = name
        self.why_id = why_id
        self.why_en = why_en


@dataclass(frozen=True, slots=True)
class Stamp:
    """A time as the page prints it (UTC) and as <time datetime> carries it."""

    text: str
    iso: str
    short: str = ""  # without seconds, for wide tables


def number(n: int) -> str:
    """A count with its thousands apart (a narrow no-break space reads alike in id and en)."""
    return f"{n:,}".replace(",", "\u202f")


def stamp(ts: int | None) -> Stamp | None:
    """A Unix time as "YYYY-MM-DD HH:MM:SS UTC", or None."""
    if ts is None:
        return None
    t = time.gmtime(ts)
    return Stamp(
        time.strftime("%Y-%m-%d %H:%M:%S UTC", t),
        time.strftime("%Y-%m-%dT%H:%M:%SZ", t),
        time.strftime("%Y-%m-%d %H:%M", t),
    )


# --- the fleet table --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetQuery:
    """The fleet page's filter and page number."""

    institution: str | None = None
    region: str | None = None
    state: DeviceState | None = None
    unregistered: bool = False
    page: int = 1

    @property
    def store_filter(self) -> DeviceFilter:
        """What the store filters; the state is filtered here, so the counts cover every state."""
        return DeviceFilter(institution=self.institution, region=self.region)

    def link(self, **change: str | int | None) -> str:
        """The fleet page's address with this filter, some parameters changed."""
        values: dict[str, str | int | None] = {
            "institution": self.institution,
            "region": self.region,
            "state": "unregistered" if self.unregistered else (self.state and self.state.value),
            "page": None if self.page == 1 else self.page,
        }
        values.update(change)
        pairs = [(k, str(v)) for k, v in values.items() if v not in (None, "", 1)]
        return "/?" + urlencode(pairs) if pairs else "/"


def single(query: Mapping[str, str], allowed: Sequence[str], getall: Mapping[str, int]) -> None:
    """Refuse parameters the page does not take, and parameters given twice."""
    for name in query:
        if name not in allowed:
            raise BadParameter(name, "parameter tidak dikenal", "unknown parameter")
        if getall.get(name, 1) > 1:
            raise BadParameter(name, "diberikan lebih dari sekali", "given more than once")


def parse_fleet_query(query: Mapping[str, str]) -> FleetQuery:
    """The fleet page's filter from its query string (empty values mean no filter)."""
    institution = query.get("institution", "").strip() or None
    if institution is not None and not ID.match(institution):
        raise BadParameter("institution", "bukan id instansi", "not an institution id")
    region = query.get("region", "").strip() or None
    if region is not None and (not _REGION.match(region) or region[:2] not in PROVINCES):
        raise BadParameter(
            "region",
            "bukan kode provinsi (2 angka) atau kabupaten/kota (4 angka)",
            "not a province (2 digits) or regency (4 digits) code",
        )
    state_text = query.get("state", "").strip()
    state = None
    if state_text and state_text != "unregistered":
        try:
            state = DeviceState(state_text)
        except ValueError:
            raise BadParameter("state", "bukan status registri", "not a registry state") from None
    page_text = query.get("page", "").strip() or "1"
    if not _PAGE.match(page_text):
        raise BadParameter("page", "bukan nomor halaman", "not a page number")
    return FleetQuery(institution, region, state, state_text == "unregistered", int(page_text))


@dataclass(frozen=True, slots=True)
class FleetLine:
    """One row of the fleet table."""

    device: str
    institution: str
    region: str
    province: str
    state: Label
    presence: Label
    last_seen: Stamp | None
    parts: tuple[tuple[Label, Label], ...]
    tamper: Label | None  # None: nothing heard that says
    cert_days: int | None
    cert_tone: str
    version: Stamp | None


@dataclass(frozen=True, slots=True)
class Count:
    """A summary card: a count, what it counts, and the link that filters by it."""

    value: str
    label: Label
    count: int
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class FleetPage:
    """Everything the fleet page shows."""

    query: FleetQuery
    lines: list[FleetLine]
    matching: int
    total: int
    states: list[Count]
    presence: list[tuple[Label, int]]
    page: int
    pages: int
    first: int  # the number of the first line shown (1-based), 0 if none
    previous: str | None
    next: str | None


def state_label(entry: DeviceEntry | None) -> Label:
    """The registry state's label (not registered: its own label)."""
    return labels.UNREGISTERED if entry is None else labels.STATE[entry.state]


def presence_label(presence: str | None) -> Label:
    """The presence's label (never heard: its own label)."""
    if presence is None:
        return labels.NEVER_HEARD
    return labels.PRESENCE.get(presence, Label(presence, presence))


def cert_days(row_days: int | None, expires: int | None, now: float) -> int | None:
    """Days left of the kiosk's certificate: as it reported, else from the registry."""
    if row_days is not None:
        return row_days
    return None if expires is None else int((expires - now) // 86400)


def cert_tone(days: int | None) -> str:
    """Badge tone of a certificate's days left."""
    if days is None:
        return "muted"
    return "bad" if days < 0 else ("warn" if days <= CERT_WARN_DAYS else "ok")


def _line(row: FleetRow, now: float) -> FleetLine:
    e, h, r = row.entry, row.health, row.reported
    if h is None:
        parts: tuple[tuple[Label, Label], ...] = ()
    else:
        parts = tuple(
            (labels.PART_NAMES[name], labels.PART[status])
            for name, status in (("reader", h.reader), ("sam", h.sam), ("sensor", h.sensor))
        )
    tampered = None if h is None and r is None else bool(h and h.tamper) or bool(r and r.tampered)
    days = cert_days(h.cert_days_left if h else None, e.cert_expires if e else None, now)
    return FleetLine(
        device=row.device,
        institution=e.institution if e else "",
        region=e.region if e else "",
        province=PROVINCES.get(e.region[:2], "") if e else "",
        state=state_label(e),
        presence=presence_label(row.presence),
        last_seen=stamp(row.last_seen),
        parts=parts,
        tamper=None if tampered is None else (labels.YES_BAD if tampered else labels.NO_OK),
        cert_days=days,
        cert_tone=cert_tone(days),
        version=stamp(r.version) if r is not None else None,
    )


def _state_key(row: FleetRow) -> str:
    return "unregistered" if row.entry is None else row.entry.state.value


def fleet_page(rows: list[FleetRow], query: FleetQuery, now: float) -> FleetPage:
    """The fleet page from the store's rows (filtered by institution and region)."""
    by_state = Counter(_state_key(row) for row in rows)
    wanted = "unregistered" if query.unregistered else (query.state and query.state.value)
    states = [
        Count(
            s.value,
            labels.STATE[s],
            by_state[s.value],
            query.link(state=s.value, page=None),
            wanted == s.value,
        )
        for s in DeviceState
    ]
    if by_state["unregistered"]:
        states.append(
            Count(
                "unregistered",
                labels.UNREGISTERED,
                by_state["unregistered"],
                query.link(state="unregistered", page=None),
                query.unregistered,
            )
        )
    matching = rows if wanted is None else [row for row in rows if _state_key(row) == wanted]
    by_presence = Counter(row.presence for row in matching)
    presence = [(labels.PRESENCE[p], by_presence[p]) for p in ("online", "offline", "lost")]
    if by_presence[None]:
        presence.append((labels.NEVER_HEARD, by_presence[None]))
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(query.page, pages)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return FleetPage(
        query=query,
        lines=[_line(row, now) for row in shown],
        matching=len(matching),
        total=len(rows),
        states=states,
        presence=presence,
        page=page,
        pages=pages,
        first=(page - 1) * PAGE_SIZE + 1 if shown else 0,
        previous=query.link(page=page - 1) if page > 1 else None,
        next=query.link(page=page + 1) if page < pages else None,
    )


# --- alerts and sanctions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertLine:
    """One alert as the alerts table shows it."""

    alert: Alert
    kind: Label
    device_link: str | None
    raised: Stamp
    cleared: Stamp | None


def target_link(target: str) -> str | None:
    """Where a target (a device id, "institution:<id>", "region:<code>") is shown."""
    kind, _, rest = target.partition(":")
    if not rest:
        return f"/kiosk/{target}" if ID.match(target) else None
    if kind == "institution" and ID.match(rest):
        return "/?" + urlencode({"institution": rest})
    if kind == "region" and _REGION.match(rest):
        return "/?" + urlencode({"region": rest})
    return None


def alert_lines(alerts: Sequence[Alert]) -> list[AlertLine]:
    """Alerts for a table, in the store's order (newest first)."""
    return [
        AlertLine(
            a,
            labels.ALERT.get(a.kind, Label(a.kind.value, a.kind.value)),
            target_link(a.target),
            Stamp("", "") if (s := stamp(a.raised_at)) is None else s,
            stamp(a.cleared_at),
        )
        for a in alerts
    ]


@dataclass(frozen=True, slots=True)
class SanctionLine:
    """One sanction in force as the sanctions tables show it."""

    sanction: SanctionInForce
    name: Label
    scope: Label
    target_link: str | None
    since: Stamp


def sanction_lines(sanctions: Sequence[SanctionInForce]) -> list[SanctionLine]:
    """Sanctions for a table: institutions first, then kiosks, each by target and since."""
    ordered = sorted(sanctions, key=lambda s: (s.scope is Scope.DEVICE, s.target, s.since))
    return [
        SanctionLine(
            s,
            labels.SANCTION[s.sanction],
            labels.SCOPE[s.scope],
            target_link(s.target if s.scope is Scope.DEVICE else f"institution:{s.target}"),
            Stamp("", "") if (t := stamp(s.since)) is None else t,
        )
        for s in ordered
    ]
