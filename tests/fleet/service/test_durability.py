"""Usage stored equals what the kiosks sent, across a broker outage (the real mosquitto stopped
and started again with its persistence) and across a fleet-service crash between receipt and
commit (the broker delivers the unacknowledged messages again) and a restart (what came while it
was away waits in its session)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from fleet.store import open_store
from fleet.store.base import Ingest
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.swarm import SwarmKiosk
from protocol.outcomes import Outcome
from tests.fleet.service.helpers import (
    WAIT,
    kiosks,
    published,
    service_config,
    start_service,
    until_async,
    until_services,
)
from tests.mqtt.fixtures import Certs

DAY = "2026-12-05"


def send(swarm: Sequence[SwarmKiosk], seqs: range) -> list[object]:
    """Usage reports `seqs` of every kiosk: FOUND = seq (cumulative), one NOT_FOUND."""
    infos = []
    for seq in seqs:
        for k in swarm:
            infos.append(k.usage(DAY, {Outcome.FOUND: seq, Outcome.NOT_FOUND: 1}))
    return infos


def stored_usage(path: Path) -> dict[str, tuple[int, dict[str, int]]]:
    """The store's usage of DAY per kiosk: (seq, counts)."""
    from fleet.store import StoreConfig

    store = open_store(StoreConfig(path))
    try:
        return {d.device: (d.seq, dict(d.counts)) for d in store.usage(first=DAY, last=DAY)}
    finally:
        store.close()


async def test_usage_survives_a_broker_outage(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs
) -> None:
    service = await start_service(service_config(tmp_path, broker, certs))
    swarm = await kiosks(broker, certs, 3, "KIOSK-O")
    try:
        await published(send(swarm, range(1, 6)))
        await until_services([service], lambda: service.stats.received >= 15)
        await asyncio.to_thread(broker.stop)
        await until_services([service], lambda: not service.ingest.connected.is_set())
        away = send(swarm, range(6, 11))  # kept by the kiosks while the broker is away
        await asyncio.to_thread(broker.start)
        assert len(away) == 15  # (their PUBACKs come once reconnected)

        async def all_in() -> bool:
            days = await service.worker.call(lambda s: s.usage(first=DAY, last=DAY))
            return len(days) == 3 and all(d.seq == 10 for d in days)

        await until_async(all_in, service.changed)
        assert service.ingest.connections >= 2
    finally:
        for k in swarm:
            k.stop()
        await service.stop()
    wanted = {k.device: (10, {"FOUND": 10, "NOT_FOUND": 1}) for k in swarm}
    assert stored_usage(tmp_path / "fleet.sqlite3") == wanted


async def test_usage_survives_a_service_crash_before_commit_and_a_restart(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs
) -> None:
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()
    release = threading.Event()
    held: list[int] = []

    def hold_first_batch(batch: Sequence[Ingest]) -> None:
        if not held:
            held.append(len(batch))
            loop.call_soon_threadsafe(arrived.set)
            release.wait(WAIT)

    config = service_config(tmp_path, broker, certs, client_id="fleet-crash")
    crashing = await start_service(config, before_commit=hold_first_batch)
    swarm = await kiosks(broker, certs, 2, "KIOSK-C")
    try:
        await published(send(swarm, range(1, 4)))
        async with asyncio.timeout(WAIT):
            await arrived.wait()
        crashing.worker.abandon_soon()  # the process dies between receipt and commit
        release.set()
        await crashing.abort()
        assert crashing.stats.received == 0 and held[0] >= 1
        assert stored_usage(tmp_path / "fleet.sqlite3") == {}

        await published(send(swarm, range(4, 7)))  # queued in its session while it is away
        again = await start_service(config)
        try:
            await until_services([again], lambda: again.stats.received >= 12)
        finally:
            await again.stop()
    finally:
        for k in swarm:
            k.stop()
    wanted = {k.device: (6, {"FOUND": 6, "NOT_FOUND": 1}) for k in swarm}
    assert stored_usage(tmp_path / "fleet.sqlite3") == wanted
    assert again.stats.received == 12  # the 6 it never acknowledged, and the 6 queued
