"""A process that appends to the audit chain (for the test of concurrent appenders)."""

from __future__ import annotations

from pathlib import Path
from threading import Barrier

from fleet.store.base import AuditEntry, FleetStore


def append_entries(where: str, admin: str, count: int, start: Barrier) -> None:
    """Open the store at `where` (a DSN or a SQLite path), wait for the others, append."""
    store: FleetStore
    if where.startswith("postgresql://"):
        from fleet.store.postgres import PostgresStore

        store = PostgresStore(where)
    else:
        from fleet.store.sqlite import SqliteStore

        store = SqliteStore(Path(where))
    start.wait(30)
    for i in range(count):
        store.append_audit(
            AuditEntry(1_700_000_000 + i, admin, "command", "KIOSK-SIM-0001", "done")
        )
    store.close()


def open_at_once(path: str, start: Barrier) -> None:
    """Open (create) the SQLite store at `path` the moment the others do."""
    from fleet.store.sqlite import SqliteStore

    start.wait(30)
    SqliteStore(Path(path)).close()
