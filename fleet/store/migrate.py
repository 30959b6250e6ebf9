"""Upgrades of an existing fleet store to this program's schema, SQLite and PostgreSQL alike.

Run in the transaction that opens the store, before the schema's CREATE ... IF NOT EXISTS
statements (which add whole tables a version brought). Version 3:
- `usage` keyed by (device, day, epoch): a store made before the outbox epochs kept one row per
  device and day; those rows become epoch 0, the epoch of kiosks that send none (an agent that
  keeps its outbox across the upgrade keeps epoch 0 too), so no day is counted twice;
- `health` gains `storage_ok` and `clock_offset_s` (NULL in older reports: not reported).
"""

# The statements are built from constant names, never from input.

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fleet.store import sql

if TYPE_CHECKING:
    from fleet.store.sqlstore import Tx

_log = logging.getLogger(__name__)

_SQLITE_COLUMNS = "SELECT name FROM pragma_table_info(?)"
_PG_COLUMNS = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = ?"
)
_HEALTH_ADDED = (("storage_ok", "BOOLEAN"), ("clock_offset_s", "BIGINT"))


def columns(tx: Tx, table: str) -> set[str]:
    """The columns of `table` (empty if there is no such table)."""
    query = _PG_COLUMNS if tx.locks_rows else _SQLITE_COLUMNS
    return {str(name) for (name,) in tx.rows(query, (table,))}


def upgrade(tx: Tx, found: int, backend: str) -> None:
    """Bring a store of schema version `found` up to this program's."""
    usage = columns(tx, "usage")
    if usage and "epoch" not in usage:
        tx.run(sql.CREATE_USAGE.format(table="usage_epochs"))
        moved = tx.run(
            "INSERT INTO usage_epochs (device, day, epoch, seq, tz, counts, at) "
            "SELECT device, day, 0, seq, tz, counts, at FROM usage"
        )
        tx.run("DROP TABLE usage")
        tx.run("ALTER TABLE usage_epochs RENAME TO usage")
        _log.warning(
            "%s fleet store: %d usage rows moved to outbox epochs (epoch 0)", backend, max(moved, 0)
        )
    health = columns(tx, "health")
    for name, kind in _HEALTH_ADDED:
        if health and name not in health:
            tx.run(f"ALTER TABLE health ADD COLUMN {name} {kind}")
    _log.info("%s fleet store upgraded from schema %d to %d", backend, found, sql.SCHEMA_VERSION)
