"""The fleet store under test, on each backend, and kiosk messages to feed it (synthetic)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.store.base import FleetStore
from protocol.mqtt import (
    AckMessage,
    AckStatus,
    DeviceStatus,
    HealthMessage,
    Presence,
    ReportedMessage,
    StateMessage,
    UsageMessage,
)
from protocol.outcomes import Outcome

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def fleet_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FleetStore]:
    """An empty fleet store: a SQLite file, or a fresh PostgreSQL database."""
    store: FleetStore
    if request.param == "sqlite":
        from fleet.store.sqlite import SqliteStore

        store = SqliteStore(tmp_path / "fleet.sqlite3")
    else:
        from fleet.store.postgres import PostgresStore

        store = PostgresStore(request.getfixturevalue("postgres_dsn"))
    yield store
    store.close()


def health(seq: int, ts: int = 1_700_000_000, **changes: object) -> HealthMessage:
    """A health report of a kiosk in good order (fields overridden by `changes`)."""
    fields: dict[str, object] = {
        "seq": seq,
        "ts": ts + seq,
        "reader": DeviceStatus.OK,
        "sam": DeviceStatus.OK,
        "sensor": DeviceStatus.OK,
        "tamper": False,
        "deactivated": False,
        "gateway_reachable": True,
        "gateway_rtt_ms": 12.5,
        "cert_days_left": 300,
        "cpu_temp_c": 48.5,
        "mem_used_pct": 31.0,
        "disk_free_pct": 72.5,
        "uptime_s": 3600 + seq,
        "agent": "1.4.0",
    }
    fields.update(changes)
    return HealthMessage(**fields)  # type: ignore[arg-type]


def usage(seq: int, day: str = "2026-12-05", found: int = 0, not_found: int = 0) -> UsageMessage:
    """A day's cumulative usage."""
    counts = {Outcome.FOUND: found, Outcome.NOT_FOUND: not_found}
    return UsageMessage(seq, day, 7, {o: n for o, n in counts.items() if n})


def state(status: Presence, conn: str, ts: int) -> StateMessage:
    """A presence message (birth, clean offline, or Last Will)."""
    return StateMessage(status, conn, ts, agent="1.4.0" if status is Presence.ONLINE else "")


def reported(
    version: int, deactivated: bool = False, sanctions: tuple[str, ...] = ()
) -> ReportedMessage:
    """What a kiosk applied."""
    return ReportedMessage(version, deactivated, sanctions, False, version + 5)


def ack(command_id: str, status: AckStatus = AckStatus.DONE) -> AckMessage:
    """A command's answer."""
    return AckMessage(command_id, status, 1_700_000_100)
