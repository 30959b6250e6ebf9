"""The fleet table of a province: 10,000 registered kiosks in one query on the latest rows (the
times are printed; the bound asserted is loose, the machine is shared)."""

from __future__ import annotations

import time

from fleet.store.base import DeviceEntry, DeviceFilter, DeviceState, FleetStore, Ingest
from protocol.mqtt import Presence
from tests.fleet.stores import health, reported, state

KIOSKS = 10_000
BATCH = 500


def _fill(store: FleetStore) -> None:
    for i in range(KIOSKS):
        region = f"{32 + i % 3}{i % 20 + 1:02d}"
        bindings = {"reader": f"RDR-{i}", "sam": f"SAM-{i}", "sensor": f"FP-{i}"}
        store.put_device(
            DeviceEntry(f"KIOSK-{i:05d}", f"inst-{i % 50}", region, f"SN-{i}", bindings)
        )
    for first in range(0, KIOSKS, BATCH):
        devices = [f"KIOSK-{i:05d}" for i in range(first, first + BATCH)]
        store.ingest([Ingest(d, state(Presence.ONLINE, "0badc0de", 100), 100) for d in devices])
        store.ingest([Ingest(d, health(seq), 100 + seq) for d in devices for seq in (1, 2)])
        store.ingest([Ingest(d, reported(4), 110) for d in devices])


ALL = DeviceFilter()


def _timed(store: FleetStore, where: DeviceFilter = ALL) -> float:
    start = time.perf_counter()
    store.fleet(where)
    return time.perf_counter() - start


def test_the_fleet_table_of_10000_kiosks(fleet_store: FleetStore) -> None:
    _fill(fleet_store)
    cold = _timed(fleet_store)
    rows = fleet_store.fleet()
    warm = min(_timed(fleet_store) for _ in range(3))
    region = min(_timed(fleet_store, DeviceFilter(region="32")) for _ in range(3))
    print(
        f"\n{fleet_store.backend}: fleet() of {KIOSKS} kiosks {cold * 1000:.1f} ms first,"
        f" {warm * 1000:.1f} ms again; a province's third {region * 1000:.1f} ms"
    )
    assert len(rows) == KIOSKS
    assert [r.device for r in rows] == sorted(r.device for r in rows)
    last = rows[-1]
    assert last.entry is not None and last.entry.state is DeviceState.ACTIVE
    assert last.presence == "online" and last.last_seen == 110
    assert last.health == health(2) and last.reported == reported(4)
    assert len(fleet_store.fleet(DeviceFilter(region="3201"))) == KIOSKS // 60 + 1
    assert warm < 0.5
