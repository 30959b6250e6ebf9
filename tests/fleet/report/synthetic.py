"""A synthetic semester: generated daily counts of many kiosks of two institutions, stored as the
fleet service stores them, and the figures a report of it must show (synthetic data only)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from fleet.store.base import DeviceEntry, FleetStore, Ingest
from protocol.mqtt import UsageMessage
from protocol.outcomes import Outcome

INSTITUTIONS = ("perpus-sintetis", "rsud-sintetis")
SEMESTER_DAYS = [dt.date(2026, 7, 1) + dt.timedelta(days=n) for n in range(184)]
_WEIGHTS = {
    Outcome.FOUND: 12,
    Outcome.NOT_FOUND: 2,
    Outcome.FOUND_DECEASED: 1,
    Outcome.CARD_UNREADABLE: 2,
    Outcome.FINGER_MISMATCH: 1,
    Outcome.PATTERN_BLOCKED: 1,
    Outcome.CANCELLED: 1,
}


@dataclass
class Expected:
    """What was generated, per institution: sessions per (month, outcome), days with
    QUOTA_EXHAUSTED per month, and kiosks."""

    counts: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    quota_days: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    kiosks: dict[str, list[str]] = field(default_factory=dict)

    def month(self, institution: str, month: str, outcome: Outcome) -> int:
        """Sessions of one outcome in one month."""
        return self.counts[institution][month, outcome.value]

    def total(self, institution: str, outcome: Outcome | None = None) -> int:
        """Sessions of the semester (of one outcome)."""
        return sum(
            n
            for (_, o), n in self.counts[institution].items()
            if outcome is None or o == outcome.value
        )


def kiosk_days(kiosks: int, seed: int = 18) -> Iterator[tuple[int, str, dict[str, int]]]:
    """(kiosk index, day, counts) of a semester, reproducibly."""
    rng = random.Random(seed)
    outcomes = list(_WEIGHTS)
    weights = list(_WEIGHTS.values())
    for k in range(kiosks):
        for day in SEMESTER_DAYS:
            sessions = rng.randrange(0, 12)
            counts = Counter(rng.choices(outcomes, weights, k=sessions))
            if rng.random() < 0.01:
                counts[Outcome.QUOTA_EXHAUSTED] += rng.randrange(1, 4)
            yield k, day.isoformat(), {o.value: n for o, n in counts.items() if n}


def fill(store: FleetStore, kiosks_each: int = 15) -> Expected:
    """Register `kiosks_each` kiosks per institution and store a semester of their usage."""
    expected = Expected()
    for i, inst in enumerate(INSTITUTIONS):
        names = [f"KIOSK-SYN{i}-{k:04d}" for k in range(kiosks_each)]
        expected.kiosks[inst] = names
        expected.counts[inst] = Counter()
        expected.quota_days[inst] = {}
        for name in names:
            store.put_device(DeviceEntry(name, inst, "3374" if i == 0 else "3273"))
        batch: list[Ingest] = []
        for k, day, counts in kiosk_days(kiosks_each, seed=18 + i):
            if not counts:
                continue
            for outcome, n in counts.items():
                expected.counts[inst][day[:7], outcome] += n
            if Outcome.QUOTA_EXHAUSTED.value in counts:
                expected.quota_days[inst].setdefault(day[:7], set()).add(day)
            message = UsageMessage(1, day, 7, {Outcome(o): n for o, n in counts.items()})
            batch.append(Ingest(names[k], message, 1_780_000_000))
            if len(batch) >= 500:
                store.ingest(batch)
                batch = []
        store.ingest(batch)
    return expected


def gateway_view(expected: Expected, institution: str) -> dict[tuple[str, str], int]:
    """The gateway's counts of the same semester, per (day, outcome), as months on day 1: the
    answers it gives itself (no kiosk-side outcomes), plus data balikan for most FOUND."""
    from fleet.semester.figures import RECONCILED

    view: dict[tuple[str, str], int] = {}
    for (month, outcome), n in expected.counts[institution].items():
        if outcome in RECONCILED:
            view[f"{month}-01", outcome] = n
    for (month, outcome), n in expected.counts[institution].items():
        if outcome == Outcome.FOUND.value:
            view[f"{month}-01", "RETURN_ACCEPTED"] = n * 9 // 10
    return view
