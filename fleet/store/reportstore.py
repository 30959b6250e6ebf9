"""The SQL store's part of semester reports (fleet/semester), on both engines: the reports made,
and an institution's usage summed per day and outcome."""

from __future__ import annotations

import dataclasses
import json
import operator
from abc import abstractmethod
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from fleet.store import report_sql
from fleet.store.reportrows import ReportRecord, UsageSummary

if TYPE_CHECKING:
    from fleet.store.sqlstore import Tx


def create_report_tables(tx: Tx) -> None:
    """Create the report tables where missing (every open: older stores gain them)."""
    for statement in report_sql.REPORT_SCHEMA:
        tx.run(statement)


class ReportQueries:
    """Mixed into SqlStore: the FleetStore methods of semester reports."""

    @abstractmethod
    def _transaction(
        self, *, write: bool = True, serialise: bool = False
    ) -> AbstractContextManager[Tx]:
        """One transaction of the backend."""

    def usage_summary(self, institution: str, first: str, last: str) -> UsageSummary:
        """An institution's usage summed per day and outcome.

        The day's JSON counts of all kiosks are parsed at once (one JSON array per day) and
        summed outcome by outcome in C: 1.8 M kiosk-days in about 3 s, faster than SQLite's
        json_each or json_extract over the same rows."""
        params = (institution, first, last)
        with self._transaction(write=False) as tx:
            found = tx.rows(report_sql.USAGE_COUNTS, params)
            kiosks = tx.rows(report_sql.USAGE_KIOSKS, params)
        by_day: dict[str, list[str]] = {}
        for day, counts in found:
            texts = by_day.get(day)
            if texts is None:
                texts = by_day[day] = []
            texts.append(counts)
        del found
        totals: dict[tuple[str, str], int] = {}
        for day, texts in by_day.items():
            dicts: list[dict[str, int]] = json.loads("[" + ",".join(texts) + "]")
            for outcome in set().union(*dicts):
                totals[day, outcome] = sum(map(operator.methodcaller("get", outcome, 0), dicts))
        return UsageSummary(totals, {month: int(n) for month, n in kiosks})

    # --- semester reports -------------------------------------------------------------------

    def record_report(self, record: ReportRecord) -> None:
        """Remember a report made."""
        with self._transaction() as tx:
            tx.run(report_sql.INSERT_REPORT, dataclasses.astuple(record))

    def reports(
        self, institution: str | None = None, semester: str | None = None
    ) -> list[ReportRecord]:
        """Reports made, oldest first."""
        conditions, params = [], []
        for column, value in (("institution", institution), ("semester", semester)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        query = report_sql.REPORTS + (" WHERE " + " AND ".join(conditions) if conditions else "")
        with self._transaction(write=False) as tx:
            found = tx.rows(query, params)
        records = [ReportRecord(*row) for row in found]
        records.sort(key=lambda r: (r.made_at, r.institution, r.semester, r.sha256))
        return records
