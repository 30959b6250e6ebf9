"""What every fleet store backend does the same: ingest rules, registry, fleet table, history,
sanctions and alerts (run against SQLite and a real PostgreSQL)."""

from __future__ import annotations

import random

from fleet.store.base import (
    Alert,
    AlertKind,
    DeviceEntry,
    DeviceFilter,
    DeviceState,
    FleetStore,
    Ingest,
    IngestResult,
    SanctionInForce,
    Scope,
)
from protocol.mqtt import DeviceStatus, Presence, RejectedDocument, ReportedMessage
from protocol.outcomes import Outcome
from protocol.signed import Sanction
from tests.fleet.stores import ack, health, reported, state, usage

K1, K2, K3 = "KIOSK-SIM-0001", "KIOSK-SIM-0002", "KIOSK-SIM-0003"


def _batch() -> list[Ingest]:
    return [
        Ingest(K1, state(Presence.ONLINE, "a1b2c3d4", 1000), 1000),
        Ingest(K1, health(1), 1001),
        Ingest(K1, health(2, sensor=DeviceStatus.FAULT, mcu_link_up=True, mcu_resets=2), 1002),
        Ingest(K1, usage(1, found=1), 1003),
        Ingest(K1, usage(2, found=2, not_found=1), 1004),
        Ingest(K1, reported(7, deactivated=True, sanctions=("network_cut",)), 1005),
        Ingest(K1, ack("0" * 32), 1006),
        Ingest(K2, health(5), 1007),
        Ingest(K2, usage(3, day="2026-12-04", found=9), 1008),
    ]


def _snapshot(store: FleetStore) -> object:
    return (
        store.fleet(),
        {d: store.health_history(d) for d in (K1, K2)},
        store.usage(),
    )


def test_ingest_counts_and_a_replayed_or_reordered_batch_changes_nothing(
    fleet_store: FleetStore,
) -> None:
    batch = _batch()
    # usage seq 1 and 2 of one day in one batch: seq 1 is stale whatever the order
    assert fleet_store.ingest(batch) == IngestResult(stored=8, duplicates=1)
    before = _snapshot(fleet_store)
    assert fleet_store.ingest(batch) == IngestResult(stored=0, duplicates=9)
    shuffled = batch[:]
    random.Random(15).shuffle(shuffled)
    assert fleet_store.ingest(shuffled) == IngestResult(stored=0, duplicates=9)
    # replays of lower seqs received later change nothing either
    later = [Ingest(i.device, i.message, i.at + 500) for i in batch]
    assert fleet_store.ingest(later) == IngestResult(stored=0, duplicates=9)
    assert _snapshot(fleet_store) == before


def test_a_reordered_batch_stores_what_the_ordered_one_does(fleet_store: FleetStore) -> None:
    batch = _batch()
    fleet_store.ingest(list(reversed(batch)))
    [row1, row2] = fleet_store.fleet()
    assert row1.health is not None and row1.health.seq == 2
    assert row1.last_seen == 1006
    assert [u.seq for u in fleet_store.usage(device=K1)] == [2]
    assert row2.health is not None and row2.health.seq == 5


def test_copies_within_one_batch(fleet_store: FleetStore) -> None:
    both = [Ingest(K1, usage(2, found=2), 2), Ingest(K1, usage(1, found=1), 1)]
    assert fleet_store.ingest(both) == IngestResult(stored=1, duplicates=1)
    in_order = [Ingest(K2, usage(1, found=1), 1), Ingest(K2, usage(2, found=2), 2)]
    assert fleet_store.ingest(in_order) == IngestResult(stored=1, duplicates=1)
    twice = [Ingest(K3, health(1), 5), Ingest(K3, health(1), 6)]
    assert fleet_store.ingest(twice) == IngestResult(stored=1, duplicates=1)
    assert [(u.device, u.seq) for u in fleet_store.usage()] == [(K1, 2), (K2, 2)]
    assert [row.last_seen for row in fleet_store.fleet()] == [2, 2, 5]


def test_usage_keeps_the_highest_seq_of_each_day(fleet_store: FleetStore) -> None:
    fleet_store.ingest([Ingest(K1, usage(4, found=4), 10)])
    result = fleet_store.ingest(
        [
            Ingest(K1, usage(3, found=3), 11),  # older, arrives late
            Ingest(K1, usage(4, found=4), 12),  # replay
            Ingest(K1, usage(1, day="2026-12-06", found=1), 13),  # next day
        ]
    )
    assert result == IngestResult(stored=1, duplicates=2)
    days = fleet_store.usage(device=K1)
    assert [(u.day, u.seq, u.total) for u in days] == [("2026-12-05", 4, 4), ("2026-12-06", 1, 1)]
    assert days[0].counts == {Outcome.FOUND.value: 4}
    assert fleet_store.usage(first="2026-12-06") == days[1:]
    assert fleet_store.usage(last="2026-12-05") == days[:1]


def test_usage_of_a_new_outbox_epoch_is_added_not_ignored(fleet_store: FleetStore) -> None:
    """The kiosk's outbox was lost at seq 40 and made again: its sequence restarts at 1 in a
    new epoch; nothing counted after that is ignored, nothing is counted twice."""
    old, new = 1_767_000_000_000, 1_767_100_000_000
    fleet_store.ingest([Ingest(K1, usage(40, found=40, epoch=old), 10)])
    result = fleet_store.ingest(
        [
            Ingest(K1, usage(1, found=1, epoch=new), 11),
            Ingest(K1, usage(2, found=2, not_found=1, epoch=new), 12),
            Ingest(K1, usage(40, found=40, epoch=old), 13),  # a replay of the old epoch
            Ingest(K1, usage(1, found=1, epoch=new), 14),  # a replay of the new one
        ]
    )
    assert result.stored == 1
    (day,) = fleet_store.usage(device=K1)
    assert day.counts == {Outcome.FOUND.value: 42, Outcome.NOT_FOUND.value: 1}


def test_usage_by_institution(fleet_store: FleetStore) -> None:
    fleet_store.put_device(DeviceEntry(K1, "perpus-a", "3273"))
    fleet_store.put_device(DeviceEntry(K2, "rs-b", "3171"))
    fleet_store.ingest([Ingest(K1, usage(1, found=1), 1), Ingest(K2, usage(1, found=2), 1)])
    assert [u.device for u in fleet_store.usage(institution="perpus-a")] == [K1]
    assert [u.device for u in fleet_store.usage()] == [K1, K2]


def test_a_stale_last_will_never_overrides_a_newer_birth(fleet_store: FleetStore) -> None:
    old, new = "aaaa0001", "bbbb0002"
    fleet_store.ingest([Ingest(K1, state(Presence.ONLINE, old, 100), 100)])
    fleet_store.ingest([Ingest(K1, state(Presence.ONLINE, new, 200), 200)])
    # the broker publishes the old connection's Last Will after the new birth
    assert fleet_store.ingest([Ingest(K1, state(Presence.LOST, old, 100), 201)]).stored == 0
    # even within the same second as the new birth
    fleet_store.ingest([Ingest(K1, state(Presence.ONLINE, "cccc0003", 300), 300)])
    assert fleet_store.ingest([Ingest(K1, state(Presence.LOST, new, 300), 301)]).stored == 0
    [row] = fleet_store.fleet()
    assert (row.presence, row.last_seen) == ("online", 300)
    # the current connection's own Last Will applies, and its replayed birth does not undo it
    assert fleet_store.ingest([Ingest(K1, state(Presence.LOST, "cccc0003", 300), 302)]).stored
    assert not fleet_store.ingest([Ingest(K1, state(Presence.ONLINE, "cccc0003", 300), 303)]).stored
    assert fleet_store.fleet()[0].presence == "lost"
    # a new birth after the loss
    fleet_store.ingest([Ingest(K1, state(Presence.ONLINE, "dddd0004", 300), 304)])
    assert fleet_store.fleet()[0].presence == "online"


def test_reported_keeps_the_highest_version(fleet_store: FleetStore) -> None:
    rejected = RejectedDocument("bad_signature", 50, 9)
    latest = ReportedMessage(8, True, ("network_cut", "quota_reduced"), True, 40, rejected)
    fleet_store.ingest([Ingest(K1, latest, 41)])
    assert fleet_store.ingest([Ingest(K1, reported(7), 42), Ingest(K1, latest, 43)]).stored == 0
    [row] = fleet_store.fleet()
    assert row.reported == latest
    assert row.last_seen == 41


def test_fleet_rows_of_registered_and_heard_kiosks(fleet_store: FleetStore) -> None:
    bindings = {"reader": "RDR-1", "sam": "SAM-1", "sensor": "FP-1", "mcu": "MCU-1"}
    entry = DeviceEntry(K1, "perpus-a", "3273", "SN-1", bindings, "0a1b", 1_800_000_000)
    fleet_store.put_device(entry)
    fleet_store.put_device(DeviceEntry(K3, "perpus-a", "3273"))
    msg = health(3, cert_days_left=None, cpu_temp_c=None, gateway_reachable=None,
                 gateway_rtt_ms=None, mcu_link_up=False, mcu_resets=None,
                 mcu_tamper_latched=True, tamper=True)  # fmt: skip
    fleet_store.ingest([Ingest(K1, msg, 77), Ingest(K2, health(1), 78)])
    rows = fleet_store.fleet()
    assert [r.device for r in rows] == [K1, K2, K3]
    assert rows[0].entry == entry and rows[0].health == msg and rows[0].last_seen == 77
    assert rows[0].presence is None and rows[0].reported is None
    assert rows[1].entry is None and rows[1].health == health(1)  # heard, not registered
    assert rows[2].health is None and rows[2].last_seen is None  # registered, never heard
    # a filtered table has registered kiosks only
    assert [r.device for r in fleet_store.fleet(DeviceFilter(institution="perpus-a"))] == [K1, K3]


def test_registry_put_get_remove_and_filters(fleet_store: FleetStore) -> None:
    entries = [
        DeviceEntry(K1, "perpus-a", "3273"),
        DeviceEntry(K2, "perpus-a", "32"),
        DeviceEntry(K3, "rs-b", "3171", state=DeviceState.DEACTIVATED),
        DeviceEntry("KIOSK-SIM-0004", "rs-b", "3327"),
    ]
    for entry in entries:
        fleet_store.put_device(entry)
    assert fleet_store.device(K1) == entries[0]
    assert fleet_store.device("kiosk-sim-0001") is None

    def ids(where: DeviceFilter) -> list[str]:
        return [r.device for r in fleet_store.fleet(where)]

    assert ids(DeviceFilter(region="32")) == [K1, K2]
    assert ids(DeviceFilter(region="3273")) == [K1]
    assert ids(DeviceFilter(region="33")) == ["KIOSK-SIM-0004"]
    assert ids(DeviceFilter(institution="rs-b", state=DeviceState.DEACTIVATED)) == [K3]
    assert ids(DeviceFilter(state=DeviceState.ACTIVE)) == [K1, K2, "KIOSK-SIM-0004"]

    replaced = DeviceEntry(K1, "perpus-a", "3273", serial="SN-2", bindings={"reader": "R2"})
    fleet_store.put_device(replaced)
    assert fleet_store.device(K1) == replaced
    assert fleet_store.set_device_state(K1, DeviceState.TAMPERED)
    assert fleet_store.device(K1) == DeviceEntry(
        K1, "perpus-a", "3273", "SN-2", {"reader": "R2"}, state=DeviceState.TAMPERED
    )
    assert not fleet_store.set_device_state("KIOSK-SIM-9999", DeviceState.ACTIVE)

    fleet_store.ingest([Ingest(K1, health(1), 5)])
    assert fleet_store.remove_device(K1)
    assert not fleet_store.remove_device(K1)
    assert fleet_store.device(K1) is None
    assert len(fleet_store.health_history(K1)) == 1  # its history stays
    assert fleet_store.fleet()[0].entry is None  # and it is still heard


def test_health_history_newest_first_with_a_limit(fleet_store: FleetStore) -> None:
    fleet_store.ingest([Ingest(K1, health(seq), 100 + seq) for seq in (3, 1, 5, 2, 4)])
    fleet_store.ingest([Ingest(K2, health(9), 1)])
    points = fleet_store.health_history(K1, limit=3)
    assert [(p.at, p.health.seq) for p in points] == [(105, 5), (104, 4), (103, 3)]
    assert [p.health.seq for p in fleet_store.health_history(K1)] == [5, 4, 3, 2, 1]
    assert fleet_store.health_history("KIOSK-SIM-9999") == []


def test_pruned_health_history_keeps_each_kiosks_latest(fleet_store: FleetStore) -> None:
    fleet_store.ingest([Ingest(K1, health(seq), 100 * seq) for seq in (1, 2, 3, 4)])
    fleet_store.ingest([Ingest(K2, health(1), 100)])
    assert fleet_store.prune_health(before=250) == 2  # K1 seq 1 and 2; K2 has only its latest
    assert [p.health.seq for p in fleet_store.health_history(K1)] == [4, 3]
    assert [p.health.seq for p in fleet_store.health_history(K2)] == [1]
    assert fleet_store.prune_health(before=10_000) == 1
    assert fleet_store.fleet()[0].health == health(4)


def test_sanctions_set_update_lift_keep_since(fleet_store: FleetStore) -> None:
    quota = SanctionInForce(
        Scope.INSTITUTION, "perpus-a", Sanction.QUOTA_REDUCED, 1000, "admin-1", "misuse", 50
    )
    reader = SanctionInForce(
        Scope.DEVICE, K1, Sanction.READER_DEACTIVATED, 1100, "admin-2", "tamper"
    )
    fleet_store.put_sanction(quota)
    fleet_store.put_sanction(reader)
    fleet_store.put_sanction(
        SanctionInForce(
            Scope.INSTITUTION, "perpus-a", Sanction.QUOTA_REDUCED, 2000, "admin-2", "again", 20
        )
    )
    updated = SanctionInForce(
        Scope.INSTITUTION, "perpus-a", Sanction.QUOTA_REDUCED, 1000, "admin-2", "again", 20
    )
    assert fleet_store.sanctions() == [reader, updated]
    assert fleet_store.sanctions(Scope.INSTITUTION) == [updated]
    assert fleet_store.sanctions(target=K1) == [reader]
    assert fleet_store.sanctions(Scope.DEVICE, "perpus-a") == []
    assert fleet_store.lift_sanction(Scope.INSTITUTION, "perpus-a", Sanction.QUOTA_REDUCED)
    assert not fleet_store.lift_sanction(Scope.INSTITUTION, "perpus-a", Sanction.QUOTA_REDUCED)
    assert fleet_store.sanctions() == [reader]


def test_alerts_raised_once_cleared_and_deliveries_counted(fleet_store: FleetStore) -> None:
    tamper = Alert(f"tamper:{K1}", AlertKind.TAMPER, K1, "casing opened", 100)
    lost = Alert(f"lost:{K2}", AlertKind.LOST, K2, "lost for 15 min", 200)
    assert fleet_store.raise_alert(tamper)
    assert not fleet_store.raise_alert(Alert(tamper.key, AlertKind.TAMPER, K1, "again", 150))
    assert fleet_store.raise_alert(lost)
    assert fleet_store.alerts() == [lost, tamper]

    fleet_store.record_delivery(tamper.key, 100, None)
    fleet_store.record_delivery(tamper.key, 100, "HTTP 503 from the webhook")
    [_, got] = fleet_store.alerts()
    assert (got.deliveries, got.delivery_failures) == (1, 1)
    assert got.last_delivery_error == "HTTP 503 from the webhook"

    cleared = fleet_store.clear_alert(tamper.key, 300)
    assert cleared is not None and cleared.cleared_at == 300 and cleared.deliveries == 1
    assert fleet_store.clear_alert(tamper.key, 301) is None
    assert fleet_store.alerts() == [lost]
    assert fleet_store.alerts(open_only=False) == [lost, cleared]
    assert fleet_store.alerts(open_only=False, limit=1) == [lost]

    # raised again once cleared: a new alert, the old one kept
    again = Alert(tamper.key, AlertKind.TAMPER, K1, "casing opened", 400)
    assert fleet_store.raise_alert(again)
    assert fleet_store.alerts(open_only=False) == [again, lost, cleared]
