"""Two gateway replicas on one real Redis: a request id is bound across replicas, and the day's
quota and every revocation survive a Redis killed (SIGKILL) and started again, or emptied.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from common.clock import local_day
from gateway.errors import StoreError
from gateway.server import RunningGateway
from protocol.messages import encode_replay_key
from protocol.regions import utc_offset_hours
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import persona
from tests.gateway.conftest import (
    Certs,
    MakeClient,
    MakeGateway,
    RedisServer,
    _free_port,
    new_request_id,
)
from tests.waiting import until

AYU = persona("ayu").nik
BAGAS = persona("bagas").nik


def _key() -> str:
    return encode_replay_key(secrets.token_bytes(32))


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it is killed and started again)."""
    exe = shutil.which("redis-server")
    assert exe is not None
    server = RedisServer(exe, _free_port(), tmp_path_factory.mktemp("own-redis"))
    server.start()
    yield server
    server.stop()


async def _replicas(make_gateway: MakeGateway, url: str | None = None) -> list[RunningGateway]:
    def on(data: dict[str, Any]) -> None:
        if url is not None:
            data["store"]["url"] = url

    # Each replica has its own SQLite file (its copy of the revocations), as on two hosts.
    def own_file(n: int) -> Any:
        def mutate(data: dict[str, Any]) -> None:
            on(data)
            data["store"]["path"] = data["store"]["path"].replace(".sqlite3", f"-{n}.sqlite3")

        return mutate

    return [await make_gateway(store="redis", mutate=own_file(n)) for n in (1, 2)]


async def test_a_reused_request_id_is_refused_at_both_replicas(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    one, two = await _replicas(make_gateway)
    day = local_day(one.relay._clock.time(), utc_offset_hours("33"))
    for _ in range(200):
        assert await one.store.take_quota("perpus-a", day, 200)
    at_one = make_client(one, certs.devices["KIOSK-A2"])
    at_two = make_client(two, certs.devices["KIOSK-A2"])
    for _ in range(17):
        rid, key = new_request_id(), _key()
        status, body = await at_one.verify(AYU, rid, key)
        assert (status, body["outcome"]) == (200, "QUOTA_EXHAUSTED")
        for kiosk in (at_two, at_one):
            for nik, k in ((BAGAS, _key()), (BAGAS, key), (AYU, _key())):
                status, body = await kiosk.verify(nik, rid, k)
                assert (status, body["error"]["code"]) == (409, "CONFLICT")
                assert "elements" not in body
        # The kiosk's own retry, with its key, gets the answer it was given, at either replica.
        assert (await at_two.verify(AYU, rid, key))[1]["outcome"] == "QUOTA_EXHAUSTED"
    assert sim.stats.queries == 0
    assert await one.store.quota_used("perpus-a", day) == 200


async def test_a_replica_decides_what_it_admits_itself(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    """No replica skips quota or anti-scraping: a new id is decided where it arrives."""
    one, two = await _replicas(make_gateway)
    at = [make_client(gw, certs.devices["KIOSK-B1"]) for gw in (one, two)]
    admin = make_client(one, certs.admin)
    await admin.request(
        "PATCH", "/admin/v1/institutions/dinsos-b/policy", {"sanctions": {"quota": 1}}
    )
    async with asyncio.timeout(5):
        await two.registry.next_load()
    outcomes = [(await at[i % 2].verify(AYU))[1]["outcome"] for i in range(4)]
    assert outcomes == ["FOUND", "QUOTA_EXHAUSTED", "QUOTA_EXHAUSTED", "QUOTA_EXHAUSTED"]
    assert sim.stats.queries == 1


async def test_redis_killed_and_started_again_keeps_the_quota_and_the_revocations(
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    own_redis: RedisServer,
    sim: RunningDukcapilSim,
) -> None:
    one, two = await _replicas(make_gateway, own_redis.url)
    day = local_day(one.relay._clock.time(), utc_offset_hours("33"))
    for _ in range(195):
        assert await one.store.take_quota("perpus-a", day, 200)
    kiosks = [make_client(gw, certs.devices["KIOSK-A1"]) for gw in (one, two)]
    outcomes = [(await kiosks[i % 2].verify(AYU))[1]["outcome"] for i in range(3)]
    assert outcomes == ["FOUND"] * 3
    admin = make_client(one, certs.admin)
    assert (await admin.request("POST", "/admin/v1/devices/KIOSK-A2/revoke"))[0] == 200

    own_redis.kill()
    # Redis down: device requests fail closed.
    status, body = await kiosks[1].verify(AYU)
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    own_redis.start()
    for gw in (one, two):
        await _until_store_answers(gw)

    assert await one.store.quota_used("perpus-a", day) == 198
    outcomes = [(await kiosks[i % 2].verify(AYU))[1]["outcome"] for i in range(6)]
    assert outcomes == ["FOUND", "FOUND"] + ["QUOTA_EXHAUSTED"] * 4
    assert await two.store.quota_used("perpus-a", day) == 200
    assert sim.stats.queries == 5
    for gw in (one, two):
        async with asyncio.timeout(5):
            await gw.registry.next_load()
        status, body = await make_client(gw, certs.devices["KIOSK-A2"]).verify(AYU)
        assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")


async def test_an_emptied_redis_never_lets_a_revoked_device_in(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, tmp_path: Path
) -> None:
    one, two = await _replicas(make_gateway)
    admin = make_client(one, certs.admin)
    assert (await admin.request("POST", "/admin/v1/devices/KIOSK-A2/revoke"))[0] == 200
    assert (await admin.request("POST", "/admin/v1/devices/KIOSK-B1/revoke"))[0] == 200
    assert (await admin.request("POST", "/admin/v1/devices/KIOSK-B1/reinstate"))[0] == 200
    async with asyncio.timeout(5):
        await two.registry.next_load()  # replica two learns them, and keeps them in its file
    client = redis.Redis.from_url(one.config.store.url or "")
    client.flushall()  # as a Redis restarted without its files
    client.close()
    await one.close()  # the replica that made the changes is gone too
    async with asyncio.timeout(5):
        await two.registry.next_load()
    status, body = await make_client(two, certs.devices["KIOSK-A2"]).verify(AYU)
    assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")
    assert (await make_client(two, certs.devices["KIOSK-B1"]).verify(AYU))[0] == 200
    # ...and Redis has them back for every replica.
    assert await two.store.revoked_devices() == frozenset({"KIOSK-A2"})
    three = await make_gateway(
        store="redis",
        mutate=lambda d: d["store"].update(path=str(tmp_path / "three.sqlite3")),
    )
    assert three.registry.revoked == frozenset({"KIOSK-A2"})
    # A device reinstated later is let in again everywhere: the latest change wins.
    admin3 = make_client(three, certs.admin)
    assert (await admin3.request("POST", "/admin/v1/devices/KIOSK-A2/reinstate"))[0] == 200
    async with asyncio.timeout(5):
        await two.registry.next_load()
    assert (await make_client(two, certs.devices["KIOSK-A2"]).verify(AYU))[0] == 200


async def _until_store_answers(gw: RunningGateway) -> None:
    """Connections of the pool opened before the restart fail once each, then reconnect."""
    async with asyncio.timeout(10):
        while True:
            try:
                await gw.store.ping()
                return
            except StoreError:
                continue


async def test_revocations_of_earlier_versions_stay_in_force(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    """Earlier versions kept revoked devices in a plain set: they are still refused."""
    one, _ = await _replicas(make_gateway)
    client = redis.Redis.from_url(one.config.store.url or "")
    client.sadd("kiosk-gateway:revoked", "KIOSK-C1")
    client.close()
    async with asyncio.timeout(5):
        await one.registry.next_load()
    status, body = await make_client(one, certs.devices["KIOSK-C1"]).verify(AYU)
    assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")
    admin = make_client(one, certs.admin)
    assert (await admin.request("POST", "/admin/v1/devices/KIOSK-C1/reinstate"))[0] == 200
    assert (await make_client(one, certs.devices["KIOSK-C1"]).verify(AYU))[0] == 200


async def test_a_duplicate_at_another_replica_waits_for_the_first_answer(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    one, two = await _replicas(make_gateway)
    rid, key = new_request_id(), _key()
    assert (await make_client(one, certs.devices["KIOSK-B1"]).verify(BAGAS))[0] == 200  # log in
    sim.set_fault("slow", delay_s=60)  # the upstream holds look-ups until the fault is cleared
    first = asyncio.create_task(make_client(one, certs.devices["KIOSK-B1"]).verify(AYU, rid, key))
    await until(
        lambda: len(one.replay) == 1, one.replay.changed
    )  # replica one claimed it and asks upstream
    again = asyncio.create_task(make_client(two, certs.devices["KIOSK-B1"]).verify(AYU, rid, key))
    await until(
        lambda: len(two.replay) == 1, two.replay.changed
    )  # replica two holds it, waiting for the answer
    assert not again.done()
    sim.clear_fault()
    async with asyncio.timeout(10):
        answers = await asyncio.gather(first, again)
    assert answers[0] == answers[1] and answers[0][1]["outcome"] == "FOUND"
    assert sim.stats.queries == 2
