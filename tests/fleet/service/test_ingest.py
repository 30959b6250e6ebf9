"""Ingest through MQTT v5 shared subscriptions into the store, against the real mosquitto:
replicas split the load and each message is stored once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path

import pytest

from fleet.store import open_store
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel
from protocol.outcomes import Outcome
from tests.clock import FakeClock
from tests.fleet.service.helpers import (
    kiosks,
    published,
    service_config,
    start_service,
    until_async,
    until_services,
)
from tests.mqtt.fixtures import Certs

DAY = "2026-12-05"
TS = 1_764_900_000


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_two_replicas_store_each_message_exactly_once(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    broker: MosquittoBroker,
    certs: Certs,
) -> None:
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgresql" else None
    a = await start_service(service_config(tmp_path, broker, certs, client_id="fleet-a", dsn=dsn))
    b = await start_service(service_config(tmp_path, broker, certs, client_id="fleet-b", dsn=dsn))
    swarm = await kiosks(broker, certs, 10, "KIOSK-R")
    try:
        infos = []
        for seq in range(1, 11):
            for k in swarm:
                infos.append(k.health(TS + seq))
                infos.append(k.usage(DAY, {Outcome.FOUND: seq, Outcome.NOT_FOUND: 1}))
        await published(infos)
        sent = len(infos)
        assert sent == 200
        await until_services([a, b], lambda: a.stats.received + b.stats.received >= sent)
        # and nothing more arrives: the two counts are exactly what was sent
        assert a.stats.received + b.stats.received == sent
        assert a.stats.received > 0 and b.stats.received > 0
        assert a.stats.malformed == b.stats.malformed == 0
        # (a usage report overtaken by a later one on the other replica is stale, not stored:
        # the day keeps its highest seq)
    finally:
        for k in swarm:
            k.stop()
        await a.stop()
        await b.stop()
    store = open_store(a.config.store)
    try:
        days = store.usage(first=DAY, last=DAY)
        assert {d.device for d in days} == {k.device for k in swarm}
        assert [(d.seq, dict(d.counts)) for d in days] == [(10, {"FOUND": 10, "NOT_FOUND": 1})] * 10
        for k in swarm:
            assert [p.health.seq for p in store.health_history(k.device)] == list(range(10, 0, -1))
    finally:
        store.close()


async def test_malformed_payloads_are_counted_acknowledged_and_dropped(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    service = await start_service(service_config(tmp_path, broker, certs))
    (kiosk,) = await kiosks(broker, certs, 1, "KIOSK-M")
    try:
        secret = b'{"v":1,"seq":1,"day":"2026-12-05","tz":7,"counts":{"3273012345678901":1}}'
        bad = [
            kiosk.publish(Channel.USAGE, b"not json"),
            kiosk.publish(Channel.USAGE, secret),
            kiosk.publish(Channel.HEALTH, b'{"v":1,"seq":"one"}'),
        ]
        good = kiosk.usage(DAY, {Outcome.FOUND: 2})
        await published([*bad, good])
        await until_services([service], lambda: service.stats.received >= 4)
        assert service.stats.malformed == 3
        assert service.stats.stored == 1
        # the worker is the store's executor (the dashboard reads this way)
        store = service.store
        assert store is not None
        rows = await asyncio.get_running_loop().run_in_executor(service.worker, store.fleet)
        assert [r.device for r in rows] == [kiosk.device]
    finally:
        kiosk.stop()
        await service.stop()
    text = caplog.text
    assert "KIOSK-M-00001" in text and "counts" in text
    assert "3273012345678901" not in text  # never the payload
    # acknowledged: the same replica, back, gets only what comes next (the broker sends in order)
    again = await start_service(service_config(tmp_path, broker, certs))
    (kiosk,) = await kiosks(broker, certs, 1, "KIOSK-M2")
    try:
        await published([kiosk.usage(DAY, {Outcome.FOUND: 3})])
        await until_services([again], lambda: again.stats.received >= 1)
        assert (again.stats.received, again.stats.malformed) == (1, 0)
    finally:
        kiosk.stop()
        await again.stop()


async def test_a_retired_replica_hands_over_its_share(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs
) -> None:
    a = await start_service(service_config(tmp_path, broker, certs, client_id="fleet-a"))
    b_config = service_config(tmp_path, broker, certs, client_id="fleet-b")
    b = await start_service(b_config)
    await b.stop()  # away: mosquitto still hands it a share of the group's messages
    swarm = await kiosks(broker, certs, 2, "KIOSK-X")
    try:
        await published([k.usage(DAY, {Outcome.FOUND: seq}) for seq in range(1, 11) for k in swarm])
        retiring = await start_service(b_config)
        drained = await retiring.retire(idle_s=0.3)
        assert drained > 0  # what its session held
        await until_services([a], lambda: a.stats.received + drained >= 20)
        assert a.stats.received + drained == 20

        before = a.stats.received
        await published([k.usage(DAY, {Outcome.FOUND: 11}) for k in swarm])
        await until_services([a], lambda: a.stats.received >= before + 2)  # all of it now
    finally:
        for k in swarm:
            k.stop()
        await a.stop()
    store = open_store(a.config.store)
    try:
        assert [(d.seq, d.total) for d in store.usage(first=DAY, last=DAY)] == [(11, 11)] * 2
    finally:
        store.close()


async def test_health_history_is_pruned_daily(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs
) -> None:
    clock = FakeClock(wall=time.time())
    config = service_config(tmp_path, broker, certs, service={"health_days": 30})
    service = await start_service(config, clock=clock)
    (kiosk,) = await kiosks(broker, certs, 1, "KIOSK-H")
    dev = kiosk.device
    try:
        await published([kiosk.health(int(clock.time())), kiosk.health(int(clock.time()))])
        await until_services([service], lambda: service.stats.received >= 2)

        async def seqs() -> list[int]:
            points = await service.worker.call(lambda s: s.health_history(dev))
            return [p.health.seq for p in points]

        assert await seqs() == [2, 1]
        await clock.wait_sleeping(86400)
        service.changed.clear()
        clock.advance(31 * 86400)  # the next daily prune: both are older than 30 days
        await until_async(lambda: _equal(seqs(), [2]), service.changed)
    finally:
        kiosk.stop()
        await service.stop()


async def _equal(value: Awaitable[list[int]], wanted: list[int]) -> bool:
    return await value == wanted
