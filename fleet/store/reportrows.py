"""The store's records of semester reports (fleet/semester): the reports made, and an
institution's usage summed over a semester."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """An institution's usage over some days, summed over its registered kiosks: sessions per
    (local day, outcome), and how many kiosks counted anything in each month (YYYY-MM)."""

    totals: Mapping[tuple[str, str], int]
    kiosks_by_month: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A semester report made: for whom, which semester (YYYY-1, YYYY-2), when, by whom, the
    PDF's SHA-256 (hex) and file name."""

    institution: str
    semester: str
    made_at: int
    by: str
    sha256: str
    file: str


class ReportsPart:
    """FleetStore's methods for semester reports."""

    def usage_summary(self, institution: str, first: str, last: str) -> UsageSummary:
        """An institution's usage summed per day and outcome over the local days `first` to
        `last` (inclusive), in the database (a semester of 10,000 kiosks is 1.8 M rows)."""
        raise NotImplementedError

    def record_report(self, record: ReportRecord) -> None:
        """Remember a report made (another of the same institution and semester is kept too)."""
        raise NotImplementedError

    def reports(
        self, institution: str | None = None, semester: str | None = None
    ) -> list[ReportRecord]:
        """Reports made, oldest first."""
        raise NotImplementedError
