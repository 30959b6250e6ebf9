"""The report's figures from the audit trail, alerts and sanctions (pure: `compute`)."""

from __future__ import annotations

import datetime as dt

from fleet.semester.figures import Sources, compute
from fleet.semester.period import Semester
from fleet.store.base import (
    Alert,
    AlertKind,
    AuditEntry,
    AuditLine,
    DeviceState,
    SanctionInForce,
    Scope,
)
from protocol.signed import Sanction


def _at(month: int, day: int = 10) -> int:
    return int(dt.datetime(2026, month, day, 5, tzinfo=dt.UTC).timestamp())


def _line(
    seq: int, at: int, action: str, target: str, outcome: str = "done", **detail: str
) -> AuditLine:
    return AuditLine(
        seq, AuditEntry(at, "fleet-admin", action, target, outcome, None, detail), "", ""
    )


def test_deactivations_tamper_alerts_and_sanctions_per_month() -> None:
    audit = [
        _line(1, _at(7), "deactivate", "K-1"),
        _line(2, _at(8), "reactivate", "K-1"),
        _line(3, _at(8), "deactivate", "K-2", outcome="failed"),  # not carried out
        _line(4, _at(8), "sanction_set", "institution:perpus-a", sanction="network_cut"),
        _line(5, _at(10), "sanction_lift", "institution:perpus-a", sanction="network_cut"),
        _line(6, _at(9), "deactivate", "K-OTHER"),  # not this institution's kiosk
    ]
    alerts = [
        Alert("tamper:K-2", AlertKind.TAMPER, "K-2", "tamper", _at(11)),
        Alert("lost:K-1", AlertKind.LOST, "K-1", "lost", _at(11), cleared_at=_at(11, 12)),
        Alert("lost:K-1", AlertKind.LOST, "K-1", "lost", _at(3)),  # before the semester
    ]
    quota = SanctionInForce(
        Scope.INSTITUTION, "perpus-a", Sanction.QUOTA_REDUCED, _at(12), "fleet-admin", "PKS", 50
    )
    src = Sources(
        institution="perpus-a",
        semester=Semester(2026, 2),
        made_at=_at(12, 20),
        admin="fleet-admin",
        usage={("2026-07-02", "FOUND"): 5, ("2026-07-03", "QUOTA_EXHAUSTED"): 1},
        kiosks_by_month={"2026-07": 2},
        kiosk_states={"K-1": DeviceState.ACTIVE, "K-2": DeviceState.TAMPERED},
        audit=audit,
        alerts=alerts,
        sanctions=[quota],
        gateway_usage=None,
        gateway_error="unreachable",
        daily_limit=None,
    )
    data = compute(src)
    by = {m.month: m for m in data.months}
    assert (by["2026-07"].deactivations, by["2026-08"].reactivations) == (1, 1)
    assert by["2026-08"].deactivations == 0 and by["2026-09"].deactivations == 0
    assert [by[f"2026-{m:02d}"].sanctions for m in (7, 8, 9, 10, 11, 12)] == [
        [],
        ["network_cut"],
        ["network_cut"],
        ["network_cut"],
        [],
        ["quota_reduced"],
    ]
    assert by["2026-11"].tamper_events == 1 and by["2026-11"].alerts == 2
    assert len(data.incidents) == 2
    assert data.kiosks_now["tampered"] == 1 and data.kiosks_now["active"] == 1
    assert by["2026-07"].quota_days_out == 1 and by["2026-07"].quota_allowed is None
    assert data.reconciled is None and data.total.balikan_sent is None
