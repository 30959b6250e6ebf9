"""An existing fleet store opened by this program is upgraded (SQLite and PostgreSQL alike):
usage kept one row per kiosk and day before the outbox epochs (now epoch 0, counted once), and
health reports had no storage_ok nor clock_offset_s."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.store import sql
from fleet.store.base import Ingest, UsageDay
from fleet.store.sqlstore import SqlStore
from tests.fleet.stores import BACKENDS, health, usage

DEVICE = "KIOSK-OLD-1"
DAY = "2026-11-30"
AT = 1_764_460_800
OLD_USAGE = """CREATE TABLE usage (
    device TEXT NOT NULL, day TEXT NOT NULL, seq BIGINT NOT NULL, tz BIGINT NOT NULL,
    counts TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (device, day))"""


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SqlStore]:
    """Opens the same store again and again (a SQLite file, or one PostgreSQL database)."""
    if request.param == "sqlite":
        from fleet.store.sqlite import SqliteStore

        return lambda: SqliteStore(tmp_path / "fleet.sqlite3")
    from fleet.store.postgres import PostgresStore

    dsn = str(request.getfixturevalue("postgres_dsn"))
    return lambda: PostgresStore(dsn)


def _as_made_by_version_2(store: SqlStore) -> None:
    """The store as the program before epochs left it: old usage table, old health columns."""
    store.ingest([Ingest(DEVICE, health(1), AT)])
    with store._transaction() as tx:
        tx.run("DROP TABLE usage")
        tx.run(OLD_USAGE)
        tx.run(
            "INSERT INTO usage (device, day, seq, tz, counts, at) VALUES (?, ?, ?, ?, ?, ?)",
            (DEVICE, DAY, 7, 7, '{"FOUND": 5, "NOT_FOUND": 2}', AT),
        )
        tx.run("ALTER TABLE health DROP COLUMN storage_ok")
        tx.run("ALTER TABLE health DROP COLUMN clock_offset_s")
        tx.run("DELETE FROM schema_version")
        tx.run("INSERT INTO schema_version (version) VALUES (2)")
    store.close()


def test_an_old_store_is_upgraded_and_counts_each_day_once(opener: Callable[[], SqlStore]) -> None:
    _as_made_by_version_2(opener())
    store = opener()
    try:
        with store._transaction(write=False) as tx:
            assert tx.rows(sql.SELECT_VERSION)[0][0] == sql.SCHEMA_VERSION
        kept = UsageDay(DEVICE, DAY, 7, {"FOUND": 5, "NOT_FOUND": 2})
        assert store.usage(device=DEVICE) == [kept]  # the old row is epoch 0
        (old,) = store.health_history(DEVICE)
        assert old.health.storage_ok is None and old.health.clock_offset_s is None

        # the same kiosk, its outbox kept (epoch 0), reports that day again: replaced, not added
        store.ingest([Ingest(DEVICE, usage(8, DAY, found=6, not_found=2), AT + 60)])
        assert store.usage(device=DEVICE)[0].counts == {"FOUND": 6, "NOT_FOUND": 2}
        # an outbox made again (a new epoch) adds its own counts to the day
        store.ingest([Ingest(DEVICE, usage(1, DAY, found=1, epoch=1_764_500_000_000), AT + 90)])
        assert store.usage(device=DEVICE)[0].counts == {"FOUND": 7, "NOT_FOUND": 2}

        store.ingest([Ingest(DEVICE, health(2, storage_ok=False, clock_offset_s=-87000), AT + 99)])
        newest = store.health_history(DEVICE)[0].health
        assert (newest.storage_ok, newest.clock_offset_s) == (False, -87000)
    finally:
        store.close()
    store = opener()  # opened again: nothing more to do
    try:
        assert store.usage(device=DEVICE)[0].counts == {"FOUND": 7, "NOT_FOUND": 2}
    finally:
        store.close()


def test_two_replicas_opening_an_old_store_at_once_upgrade_it_once(
    opener: Callable[[], SqlStore],
) -> None:
    _as_made_by_version_2(opener())
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        stores = list(pool.map(lambda _: opener(), range(2)))
    try:
        for store in stores:
            assert store.usage(device=DEVICE)[0].counts == {"FOUND": 5, "NOT_FOUND": 2}
    finally:
        for store in stores:
            store.close()
