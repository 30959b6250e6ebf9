"""The SQL store's part of provisioning (protocol.handover, fleet.provisioning), both engines.

- `handover_record`: one row per record of a kiosk, by (device, seq): the record's canonical
  JSON as the fleet service countersigned it, and its hash. Hardware ids, a place, staff ids:
  no personal data.
- `mcu_key_escrow`: the supervisor MCU's clear key of each kiosk, escrowed at provisioning
  (what an admin's tamper clear is computed from; only the fleet service reads it).

The tables are additive (made where missing on every open).
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
    # the supervisor MCU's tamper-clear key of each kiosk, escrowed at provisioning
    """CREATE TABLE IF NOT EXISTS mcu_key_escrow (
        device TEXT PRIMARY KEY, key_hex TEXT NOT NULL, at BIGINT NOT NULL)""",
)
INSERT_KEY = (
    "INSERT INTO mcu_key_escrow (device, key_hex, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
SELECT_KEY = "SELECT key_hex FROM mcu_key_escrow WHERE device = ?"
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

    def escrow_mcu_key(self, device: str, key: bytes, at: int) -> bytes:
        """Keep a kiosk's MCU clear key unless one is kept already; the key kept."""
        with self._transaction(serialise=True) as tx:
            tx.run(INSERT_KEY, (device, key.hex(), at))
            return bytes.fromhex(str(tx.rows(SELECT_KEY, (device,))[0][0]))

    def escrowed_mcu_key(self, device: str) -> bytes | None:
        """A kiosk's escrowed MCU clear key, or None."""
        with self._transaction(write=False) as tx:
            found = tx.rows(SELECT_KEY, (device,))
        return bytes.fromhex(str(found[0][0])) if found else None

    def handover_records(self, device: str) -> list[StoredRecord]:
        """A kiosk's records, oldest first."""
        with self._transaction(write=False) as tx:
            found = tx.rows(SELECT, (device,))
        return [
            StoredRecord(str(d), int(s), str(k), int(a), str(h), str(r))
            for d, s, k, a, h, r in found
        ]
