"""A semester of the PKS reporting calendar: YYYY-1 is January to June (report due in June),
YYYY-2 is July to December (report due in December)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from fleet.errors import EXIT_USAGE, FleetError

_SEMESTER = re.compile(r"^(20\d\d)-([12])\Z")
MONTHS_ID = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
REMIND_DAYS = 14  # a report due within this many days and not made: an alert
OVERDUE_DAYS = 31  # ... and an overdue one for this many days after


@dataclass(frozen=True, slots=True, order=True)
class Semester:
    """One half-year: `half` 1 (January-June) or 2 (July-December)."""

    year: int
    half: int

    @classmethod
    def parse(cls, text: str) -> Semester:
        """`2026-2`; FleetError (usage) for anything else."""
        m = _SEMESTER.match(text)
        if m is None:
            raise FleetError(
                f"--semester {text!r}: a semester is YYYY-1 (January-June) or YYYY-2 "
                "(July-December), e.g. 2026-2",
                EXIT_USAGE,
            )
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Semester:
        """The semester a day falls in."""
        return cls(day.year, 1 if day.month <= 6 else 2)

    def __str__(self) -> str:
        return f"{self.year}-{self.half}"

    @property
    def months(self) -> list[str]:
        """Its six months, YYYY-MM."""
        start = 1 if self.half == 1 else 7
        return [f"{self.year}-{m:02d}" for m in range(start, start + 6)]

    @property
    def first_day(self) -> dt.date:
        """Its first day."""
        return dt.date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def last_day(self) -> dt.date:
        """Its last day: the day its report is due."""
        return dt.date(self.year, 6, 30) if self.half == 1 else dt.date(self.year, 12, 31)

    @property
    def due(self) -> dt.date:
        """The day its report is due (the end of June or of December)."""
        return self.last_day

    @property
    def previous(self) -> Semester:
        """The semester before."""
        return Semester(self.year, 1) if self.half == 2 else Semester(self.year - 1, 2)

    @property
    def label_id(self) -> str:
        """ "Semester II 2026 (Juli-Desember)"."""
        span = "Januari-Juni" if self.half == 1 else "Juli-Desember"
        return f"Semester {'I' * self.half} {self.year} ({span})"


def month_label(month: str) -> str:
    """ "2026-07" -> "Juli 2026"."""
    year, number = month.split("-")
    return f"{MONTHS_ID[int(number) - 1]} {year}"


def days_in_month(month: str) -> int:
    """How many days a YYYY-MM month has."""
    year, number = month.split("-")
    return calendar.monthrange(int(year), int(number))[1]


def due_reminder(
    today: dt.date, made: set[Semester], since: dt.date | None = None
) -> tuple[Semester, int] | None:
    """The semester whose report is due within REMIND_DAYS, or overdue by at most
    OVERDUE_DAYS, and not made, with the days left (negative: overdue); None when none is.
    `since`: the institution's first kiosk; a semester that ended before it needs no report."""
    current = Semester.of(today)
    for semester in (current.previous, current):
        left = (semester.due - today).days
        if since is not None and semester.due < since:
            continue
        if -OVERDUE_DAYS <= left <= REMIND_DAYS and semester not in made:
            return semester, left
    return None
