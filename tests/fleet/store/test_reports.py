"""The store's part of semester reports, on SQLite and a real PostgreSQL: the reports made, and
an institution's usage summed per day and outcome."""

from __future__ import annotations

from pathlib import Path

from fleet.store.base import DeviceEntry, FleetStore, Ingest, ReportRecord
from fleet.store.sqlite import SqliteStore
from protocol.mqtt import UsageMessage
from protocol.outcomes import Outcome

A1, A2, B1, LOOSE = "KIOSK-A-0001", "KIOSK-A-0002", "KIOSK-B-0001", "KIOSK-X-0001"


def _usage(seq: int, day: str, **counts: int) -> UsageMessage:
    return UsageMessage(seq, day, 7, {Outcome(k): n for k, n in counts.items()})


def test_reports_made_are_remembered_per_institution_and_semester(
    fleet_store: FleetStore,
) -> None:
    assert fleet_store.reports() == []
    first = ReportRecord("perpus-a", "2026-2", 1_798_000_000, "fleet-admin", "a" * 64, "a.pdf")
    again = ReportRecord("perpus-a", "2026-2", 1_798_000_100, "fleet-admin", "b" * 64, "b.pdf")
    other = ReportRecord("rs-b", "2026-1", 1_790_000_000, "fleet-admin", "c" * 64, "c.pdf")
    for record in (first, again, other, first):  # the same record twice is kept once
        fleet_store.record_report(record)
    assert fleet_store.reports() == [other, first, again]
    assert fleet_store.reports("perpus-a") == [first, again]
    assert fleet_store.reports("perpus-a", "2026-1") == []
    assert fleet_store.reports(semester="2026-1") == [other]


def test_usage_summary_sums_an_institutions_kiosks_per_day_and_outcome(
    fleet_store: FleetStore,
) -> None:
    for device, inst in ((A1, "perpus-a"), (A2, "perpus-a"), (B1, "rs-b")):
        fleet_store.put_device(DeviceEntry(device, inst, "3374"))
    fleet_store.ingest(
        [
            Ingest(A1, _usage(1, "2026-07-01", FOUND=3, NOT_FOUND=1), 1),
            Ingest(A1, _usage(2, "2026-07-01", FOUND=5, NOT_FOUND=1), 2),  # the day's highest
            Ingest(A2, _usage(1, "2026-07-01", FOUND=2, PATTERN_BLOCKED=4), 3),
            Ingest(A2, _usage(2, "2026-08-31", QUOTA_EXHAUSTED=7), 4),
            Ingest(A2, _usage(3, "2026-06-30", FOUND=100), 5),  # before the range
            Ingest(B1, _usage(1, "2026-07-01", FOUND=50), 6),  # another institution
            Ingest(LOOSE, _usage(1, "2026-07-01", FOUND=50), 7),  # not registered
        ]
    )
    summary = fleet_store.usage_summary("perpus-a", "2026-07-01", "2026-12-31")
    assert summary.totals == {
        ("2026-07-01", "FOUND"): 7,
        ("2026-07-01", "NOT_FOUND"): 1,
        ("2026-07-01", "PATTERN_BLOCKED"): 4,
        ("2026-08-31", "QUOTA_EXHAUSTED"): 7,
    }
    assert summary.kiosks_by_month == {"2026-07": 2, "2026-08": 1}
    empty = fleet_store.usage_summary("nobody", "2026-07-01", "2026-12-31")
    assert empty.totals == {} and empty.kiosks_by_month == {}


def test_a_store_made_before_the_report_table_gains_it(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE semester_report")
    store = SqliteStore(path)
    try:
        record = ReportRecord("perpus-a", "2026-2", 1, "fleet-admin", "d" * 64, "d.pdf")
        store.record_report(record)
        assert store.reports() == [record]
    finally:
        store.close()
