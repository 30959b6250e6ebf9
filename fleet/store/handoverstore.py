"""The SQL store's part of handover records (BAST, protocol.handover), on both engines.

One row per record of a kiosk, by (device, seq): the record's canonical JSON as the fleet
service countersigned it, and its hash. The table is additive (made where missing on every
open). Nothing in a record is personal data: hardware ids, a place, staff ids.
"""

# The statements are constants, never built from input.
# ruff: noqa: S608

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet.store.sqlstore import Tx

HANDOVER_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS handover_record (
        device TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, at BIGINT NOT NULL,
        hash TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (device, seq))""",
)
_FIELDS = "device, seq, kind, at, hash, record"
INSERT = f"INSERT INTO handover_record ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
SELECT = f"SELECT {_FIELDS} FROM handover_record WHERE device = ? ORDER BY seq"


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A stored handover record (`record`: its canonical JSON text)."""

    device: str
    seq: int
    kind: str
    at: int
    hash: str
    record: str


def create_handover_tables(tx: Tx) -> None:
    """Create the handover table where missing."""
    for statement in HANDOVER_SCHEMA:
        tx.run(statement)


class HandoverQueries:
    """Mixed into SqlStore: the kiosks' chains of handover records."""

    @abstractmethod
    def _transaction(
        self, *, write: bool = True, serialise: bool = False
    ) -> AbstractContextManager[Tx]:
        """One transaction of the backend."""

    def append_handover(self, row: StoredRecord) -> bool:
        """Store a record at its seq; False when that seq is taken (a concurrent record)."""
        with self._transaction(serialise=True) as tx:
            return tx.run(INSERT, (row.device, row.seq, row.kind, row.at, row.hash, row.record)) > 0

    def handover_records(self, device: str) -> list[StoredRecord]:
        """A kiosk's records, oldest first."""
        with self._transaction(write=False) as tx:
            found = tx.rows(SELECT, (device,))
        return [
            StoredRecord(str(d), int(s), str(k), int(a), str(h), str(r))
            for d, s, k, a, h, r in found
        ]
