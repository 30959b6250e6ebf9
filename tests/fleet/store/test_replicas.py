"""Two writers on one PostgreSQL store at once (the service's replicas): batches of the same
kiosks in opposite orders never deadlock, and every message is stored once."""

from __future__ import annotations

import threading

from fleet.store.base import Alert, AlertKind, Ingest, IngestResult
from fleet.store.postgres import PostgresStore
from protocol.mqtt import Presence
from tests.fleet.stores import health, reported, state, usage

KIOSKS = 300
ROUNDS = 15


def _batch(round_: int, reverse: bool, replica: int) -> list[Ingest]:
    devices = [f"KIOSK-SIM-{k:04d}" for k in range(KIOSKS)]
    if reverse:
        devices.reverse()
    at = 1000 + round_
    batch = []
    for d in devices:
        # each replica gets its own messages (a shared subscription splits them)
        seq = 2 * round_ + replica + 1
        batch.append(Ingest(d, health(seq), at))
        batch.append(Ingest(d, usage(seq, found=seq), at))
        if round_ % 5 == 0:
            batch.append(Ingest(d, state(Presence.ONLINE, f"{round_:04d}abcd", at), at))
            batch.append(Ingest(d, reported(seq), at))
    return batch


def test_replicas_writing_the_same_kiosks_never_deadlock(postgres_dsn: str) -> None:
    stores = [PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    results: list[IngestResult] = []

    def replica(n: int) -> None:
        try:
            for r in range(ROUNDS):
                barrier.wait(30)
                results.append(stores[n].ingest(_batch(r, reverse=n == 1, replica=n)))
        except BaseException as err:  # reported by the test
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == []
        rows = stores[0].fleet()
        assert len(rows) == KIOSKS
        assert {row.health.seq for row in rows if row.health} == {2 * ROUNDS}
        assert {u.seq for u in stores[0].usage()} == {2 * ROUNDS}
        assert len(stores[0].health_history("KIOSK-SIM-0000", limit=1000)) == 2 * ROUNDS
    finally:
        for store in stores:
            store.close()


def test_replicas_raise_and_clear_an_alert_once(postgres_dsn: str) -> None:
    stores = [PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)]
    barrier = threading.Barrier(2)
    raised: list[bool] = []
    cleared: list[bool] = []

    def replica(store: PostgresStore) -> None:
        for n in range(20):
            key = f"tamper:KIOSK-SIM-{n:04d}"
            barrier.wait(30)
            raised.append(store.raise_alert(Alert(key, AlertKind.TAMPER, key[7:], "opened", n)))
            barrier.wait(30)
            cleared.append(store.clear_alert(key, 100 + n) is not None)

    threads = [threading.Thread(target=replica, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert raised.count(True) == 20 and cleared.count(True) == 20
        assert len(stores[0].alerts(open_only=False)) == 20
        assert stores[0].alerts() == []
    finally:
        for store in stores:
            store.close()
