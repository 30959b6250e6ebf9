"""The fleet store under test, on each backend, and kiosk messages to feed it (synthetic)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.store.base import FleetStore
from kiosk_sim.swarm import health_message
from protocol.mqtt import (
    AckMessage,
    AckStatus,
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
    return health_message(seq, ts + seq, **{"agent": "1.4.0", **changes})


def usage(
    seq: int, day: str = "2026-12-05", found: int = 0, not_found: int = 0, epoch: int = 0
) -> UsageMessage:
    """A day's cumulative usage (within one outbox epoch)."""
    counts = {Outcome.FOUND: found, Outcome.NOT_FOUND: not_found}
    return UsageMessage(seq, day, 7, {o: n for o, n in counts.items() if n}, epoch)


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
