"""The alert engine's reminders: a semester report due and not made (cleared once made), and an
institution's data balikan behind its FOUND answers at the gateway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleet.service.alerting import AlertEngine
from fleet.service.gateway_poll import GatewayPoller
from fleet.service.settings import AlertSettings
from fleet.store.base import DeviceEntry, FleetStore, ReportRecord
from fleet.store.sqlite import SqliteStore
from tests.clock import FakeClock

DEC_20 = dt.datetime(2026, 12, 20, 3, tzinfo=dt.UTC).timestamp()


class GatewayCounts:
    """Stands in for the gateway's admin client (its counts only)."""

    def __init__(self) -> None:
        self.usage: dict[tuple[str, str, str], int] = {}

    def quota(self, institution: str) -> tuple[int, int | None]:
        return 0, 200

    def pattern_blocked(self, first: str, last: str) -> dict[str, int]:
        return {}

    def usage_counts(self, first: str, last: str) -> dict[tuple[str, str, str], int]:
        return {k: n for k, n in self.usage.items() if first <= k[1] <= last}

    def close(self) -> None:
        pass


def _engine(store: FleetStore, gateway: GatewayCounts | None = None) -> AlertEngine:
    async def call(fn: Callable[[FleetStore], Any]) -> Any:
        return fn(store)

    poller = None if gateway is None else GatewayPoller(gateway)  # type: ignore[arg-type]
    return AlertEngine(call, AlertSettings(), FakeClock(wall=DEC_20), gateway=poller)


def _open(store: FleetStore) -> dict[str, str]:
    return {a.key: a.detail for a in store.alerts()}


async def test_a_report_due_is_reminded_until_it_is_made(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "fleet.sqlite3")
    try:
        store.put_device(
            DeviceEntry("KIOSK-R-0001", "perpus-a", "3374", registered_at=1_780_000_000)
        )
        engine = _engine(store)
        await engine.sweep()
        detail = _open(store)["report_due:perpus-a"]
        assert "2026-2" in detail and "11 hari" in detail
        store.record_report(ReportRecord("perpus-a", "2026-2", int(DEC_20), "a", "0" * 64, "x.pdf"))
        await engine.sweep()
        assert "report_due:perpus-a" not in _open(store)
    finally:
        store.close()


async def test_data_balikan_behind_found_is_an_alert(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "fleet.sqlite3")
    try:
        store.put_device(DeviceEntry("KIOSK-R-0001", "perpus-a", "3374"))
        store.record_report(ReportRecord("perpus-a", "2026-2", int(DEC_20), "a", "0" * 64, "x.pdf"))
        gateway = GatewayCounts()
        gateway.usage = {
            ("perpus-a", "2026-12-19", "FOUND"): 60,
            ("perpus-a", "2026-12-19", "RETURN_ACCEPTED"): 20,
            ("perpus-a", "2026-11-01", "RETURN_ACCEPTED"): 500,  # outside the 7 days
        }
        engine = _engine(store, gateway)
        await engine.sweep()
        assert "20 dari 60" in _open(store)["balikan_behind:perpus-a"]
        gateway.usage["perpus-a", "2026-12-20", "RETURN_ACCEPTED"] = 40
        await engine.sweep()
        assert "balikan_behind:perpus-a" not in _open(store)
    finally:
        store.close()
