"""Storing a batch of kiosk messages in one transaction, idempotently (the rules are in
fleet.store.base).

Health and usage reports, the bulk of a batch, go in with a few multi-row statements whose
RETURNING clause says which rows changed; the `latest` rows are then updated once per kiosk.
Of one kiosk's usage reports of a day in the same batch only the highest seq is stored, the
others count as stale whatever their order. State, reported and acks (rare) go one by one.
Where rows are locked (PostgreSQL), the batch first locks its kiosks' `latest` rows in device
order: every other row a batch writes belongs to one of those kiosks, so two concurrent batches
wait for each other there, and never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fleet.store import rows, sql
from fleet.store.base import Ingest, StoreError
from protocol.mqtt import AckMessage, HealthMessage, ReportedMessage, StateMessage, UsageMessage

if TYPE_CHECKING:
    from fleet.store.sqlstore import Tx

_HEALTH_WIDTH = 22
_USAGE_WIDTH = 7


class _Latest:
    """Per kiosk: the latest receive time and health seq of what this batch stored."""

    def __init__(self) -> None:
        self.by_device: dict[str, tuple[int, int | None]] = {}

    def saw(self, device: str, at: int, health_seq: int | None = None) -> None:
        last, seq = self.by_device.get(device, (at, health_seq))
        if health_seq is not None and (seq is None or health_seq > seq):
            seq = health_seq
        self.by_device[device] = (max(last, at), seq)


def ingest_batch(tx: Tx, batch: Sequence[Ingest]) -> int:
    """Store `batch`; how many of its messages changed the store."""
    health: list[Ingest] = []
    usage: dict[tuple[str, str, int], Ingest] = {}
    others: list[Ingest] = []
    for item in batch:
        msg = item.message
        if isinstance(msg, HealthMessage):
            health.append(item)
        elif isinstance(msg, UsageMessage):
            key = (item.device, msg.day, msg.epoch)
            kept = usage.get(key)
            if kept is None or msg.seq > _seq(kept):
                usage[key] = item
        else:
            others.append(item)
    if tx.locks_rows:
        _lock_latest(tx, batch)
    latest = _Latest()
    stored = _store_health(tx, health, latest) + _store_usage(tx, list(usage.values()), latest)
    for item in others:
        stored += _store_one(tx, item)
    _flush(tx, latest)
    return stored


def _lock_latest(tx: Tx, batch: Sequence[Ingest]) -> None:
    """Create the missing latest rows of the batch's kiosks, then lock them all, by device.
    (A kiosk without one has no stored message: whatever it sent now is stored.)"""
    first: dict[str, int] = {}
    for item in batch:
        first[item.device] = min(item.at, first.get(item.device, item.at))
    devices = sorted(first)
    for start in range(0, len(devices), sql.MAX_ROWS):
        chunk = devices[start : start + sql.MAX_ROWS]
        params = [value for device in chunk for value in (device, first[device])]
        tx.run(sql.many(sql.ENSURE_LATEST_MANY, len(chunk), 2), params)
        tx.rows(sql.many(sql.LOCK_LATEST, len(chunk), 1), chunk)


def _seq(item: Ingest) -> int:
    assert isinstance(item.message, UsageMessage)
    return item.message.seq


def _store_health(tx: Tx, items: list[Ingest], latest: _Latest) -> int:
    stored = 0
    for chunk in _chunks(items):
        params: list[Any] = []
        for item in chunk:
            assert isinstance(item.message, HealthMessage)
            params += rows.health_params(item.device, item.at, item.message)
        statement = sql.many(sql.INSERT_HEALTH, len(chunk), _HEALTH_WIDTH)
        for device, seq, at in tx.rows(statement, params):
            latest.saw(device, at, seq)
            stored += 1
    return stored


def _store_usage(tx: Tx, items: list[Ingest], latest: _Latest) -> int:
    stored = 0
    for chunk in _chunks(items):
        params: list[Any] = []
        for item in chunk:
            msg = item.message
            assert isinstance(msg, UsageMessage)
            counts = rows.to_json_text({o.value: n for o, n in msg.counts.items()})
            params += (item.device, msg.day, msg.epoch, msg.seq, msg.utc_offset_h, counts, item.at)
        statement = sql.many(sql.UPSERT_USAGE, len(chunk), _USAGE_WIDTH)
        for device, at in tx.rows(statement, params):
            latest.saw(device, at)
            stored += 1
    return stored


def _store_one(tx: Tx, item: Ingest) -> int:
    """A state, reported or ack message; 1 if it changed the store."""
    device, msg, at = item.device, item.message, item.at
    if isinstance(msg, AckMessage):
        ack = (device, msg.command_id, msg.status.value, msg.ts, msg.reason, at)
        changed = tx.run(sql.INSERT_ACK, ack) > 0
    elif isinstance(msg, StateMessage):
        found = tx.rows(sql.SELECT_STATE, (device,))
        changed = rows.state_applies(found[0] if found else None, msg)
        if changed:
            tx.run(sql.ENSURE_LATEST, (device, at))
            tx.run(sql.UPDATE_STATE, (msg.status.value, msg.ts, msg.conn, device))
    elif isinstance(msg, ReportedMessage):
        tx.run(sql.ENSURE_LATEST, (device, at))
        changed = tx.run(sql.UPDATE_REPORTED, (*rows.reported_params(msg), device, msg.version)) > 0
    else:
        raise StoreError(f"cannot store a {type(msg).__name__}")
    if changed:
        tx.run(sql.TOUCH, (device, at))
    return int(changed)


def _flush(tx: Tx, latest: _Latest) -> None:
    """One upsert of `latest` for every kiosk whose health or usage was stored."""
    items = list(latest.by_device.items())
    for start in range(0, len(items), sql.MAX_ROWS):
        chunk = items[start : start + sql.MAX_ROWS]
        params: list[Any] = []
        for device, (at, seq) in chunk:
            params += (device, at, seq)
        tx.run(sql.many(sql.UPDATE_LATEST, len(chunk), 3), params)


def _chunks(items: list[Ingest]) -> list[list[Ingest]]:
    return [items[i : i + sql.MAX_ROWS] for i in range(0, len(items), sql.MAX_ROWS)]
