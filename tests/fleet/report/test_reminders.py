"""The reminder rules: a semester report due or overdue and not made, data balikan behind."""

from __future__ import annotations

import datetime as dt

import pytest

from fleet.semester.period import Semester, due_reminder
from fleet.service.rules import balikan_alert, report_due_alert
from fleet.store.base import AlertKind


def test_semesters_parse_and_know_their_months_and_due_day() -> None:
    s = Semester.parse("2026-2")
    assert s.months[0] == "2026-07" and s.months[-1] == "2026-12"
    assert s.due == dt.date(2026, 12, 31) and s.previous == Semester(2026, 1)
    assert Semester.of(dt.date(2027, 1, 3)) == Semester(2027, 1)


@pytest.mark.parametrize(
    ("today", "made", "want"),
    [
        (dt.date(2026, 12, 16), set(), None),  # 15 days left: not yet
        (dt.date(2026, 12, 17), set(), ("2026-2", 14)),
        (dt.date(2026, 12, 31), set(), ("2026-2", 0)),
        (dt.date(2026, 12, 20), {"2026-2"}, None),  # made
        (dt.date(2027, 1, 10), {"2026-1"}, ("2026-2", -10)),  # overdue
        (dt.date(2027, 2, 15), set(), None),  # overdue by more than a month: no longer
        (dt.date(2026, 6, 20), set(), ("2026-1", 10)),
    ],
)
def test_due_reminder(today: dt.date, made: set[str], want: tuple[str, int] | None) -> None:
    got = due_reminder(today, {Semester.parse(m) for m in made})
    assert (None if got is None else (str(got[0]), got[1])) == want


def test_a_semester_before_the_first_kiosk_needs_no_report() -> None:
    assert due_reminder(dt.date(2027, 1, 5), set(), dt.date(2027, 1, 2)) is None
    alert = report_due_alert("perpus-a", dt.date(2027, 1, 5), set(), dt.date(2026, 8, 1))
    assert alert is not None and alert.key == "report_due:perpus-a"
    assert alert.kind is AlertKind.REPORT_DUE and "terlambat 5 hari" in alert.detail


def test_balikan_behind() -> None:
    assert balikan_alert("perpus-a", 100, 95, 0.9, 20) is None
    assert balikan_alert("perpus-a", 10, 0, 0.9, 20) is None  # too few to judge
    alert = balikan_alert("perpus-a", 100, 40, 0.9, 20)
    assert alert is not None and alert.kind is AlertKind.BALIKAN_BEHIND
    assert "40 dari 100" in alert.detail
