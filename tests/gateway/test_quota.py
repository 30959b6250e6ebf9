"""Quota: 200 a day before PoC approval, sanctions, the local day, exactness under concurrency.

Every test here runs on both stores (SQLite and a real redis-server).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp

from common.clock import local_day
from gateway.config import StoreConfig
from gateway.store import make_store
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import persona
from tests.clock import FakeClock
from tests.gateway.conftest import Certs, MakeClient, MakeGateway

AYU = persona("ayu").nik


def _store_config(kind: str, tmp: Any, redis_url: str | None) -> StoreConfig:
    if kind == "sqlite":
        return StoreConfig(kind="sqlite", path=tmp / "quota.sqlite3")
    return StoreConfig(kind="redis", url=redis_url)


async def test_store_take_is_exact_under_concurrency(
    store_kind: str, tmp_path: Any, request: Any
) -> None:
    url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
    store = make_store(_store_config(store_kind, tmp_path, url))
    await store.open()
    try:
        for _ in range(190):
            assert await store.take_quota("inst", "2024-03-10", 200)
        results = await asyncio.gather(
            *(store.take_quota("inst", "2024-03-10", 200) for _ in range(500))
        )
        assert results.count(True) == 10
        assert await store.quota_used("inst", "2024-03-10") == 200
        await store.give_back_quota("inst", "2024-03-10")
        assert await store.quota_used("inst", "2024-03-10") == 199
        assert await store.quota_used("inst", "2024-03-11") == 0
    finally:
        await store.close()


async def test_500_simultaneous_requests_at_190_used(
    store_kind: str,
    make_gateway: MakeGateway,
    certs: Certs,
    sim: RunningDukcapilSim,
) -> None:
    gw = await make_gateway(store=store_kind)
    day = local_day(gw.relay._clock.time(), 7)
    for _ in range(190):
        await gw.store.take_quota("perpus-a", day, 200)
    ctx = certs.pki.client_context(certs.devices["KIOSK-A2"])
    connector = aiohttp.TCPConnector(ssl=ctx, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> str:
            body = {
                "request_id": f"{i:032x}",
                "nik": AYU,
                "match": {"finger": "left_index", "score": 99, "tries": 2},
                "reader": {"reader_id": "RDR-X", "sam_id": "SAM-X"},
            }
            async with session.post(gw.url + "/v1/verifications", json=body) as resp:
                assert resp.status == 200
                return str((await resp.json())["outcome"])

        outcomes = await asyncio.gather(*(one(i) for i in range(500)))
    assert outcomes.count("QUOTA_EXHAUSTED") == 490
    assert outcomes.count("FOUND") == 10
    assert sim.stats.queries == 10
    assert await gw.store.quota_used("perpus-a", day) == 200


def _sanction_quota(data: dict[str, Any], inst: str, quota: int) -> None:
    data["institutions"][inst]["sanctions"] = {"quota": quota}


async def test_local_day_boundaries_wib_wita_wit(
    store_kind: str, make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    # 2024-03-10 15:59:59 UTC is 22:59:59 WIB, 23:59:59 WITA, 00:59:59 (11th) WIT.
    start = dt.datetime(2024, 3, 10, 15, 59, 59, tzinfo=dt.UTC).timestamp()
    clock = FakeClock(start)

    def one_a_day(data: dict[str, Any]) -> None:
        for inst in ("perpus-a", "dinsos-b", "dukcapil-c"):
            _sanction_quota(data, inst, 1)

    gw = await make_gateway(store=store_kind, clock=clock, mutate=one_a_day)
    kiosks = {
        inst: make_client(gw, certs.devices[dev])
        for inst, dev in (
            ("perpus-a", "KIOSK-A1"),
            ("dinsos-b", "KIOSK-B1"),
            ("dukcapil-c", "KIOSK-C1"),
        )
    }

    async def outcome(inst: str) -> str:
        return str((await kiosks[inst].verify(AYU))[1]["outcome"])

    for inst in kiosks:
        assert await outcome(inst) == "FOUND"
        assert await outcome(inst) == "QUOTA_EXHAUSTED"
    clock.advance(1)  # 16:00:00 UTC: midnight in WITA only
    assert await outcome("dinsos-b") == "FOUND"
    assert await outcome("perpus-a") == "QUOTA_EXHAUSTED"
    assert await outcome("dukcapil-c") == "QUOTA_EXHAUSTED"
    clock.advance(3600)  # 17:00:00 UTC: midnight in WIB
    assert await outcome("perpus-a") == "FOUND"
    assert await outcome("dukcapil-c") == "QUOTA_EXHAUSTED"
    clock.advance(22 * 3600)  # 15:00:00 UTC next day: midnight in WIT
    assert await outcome("dukcapil-c") == "FOUND"


async def test_200_a_day_before_poc_then_unmetered(
    store_kind: str, make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway(store=store_kind)
    day = local_day(gw.relay._clock.time(), 7)
    for _ in range(199):
        await gw.store.take_quota("perpus-a", day, 200)
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    assert (await kiosk.verify(AYU))[1]["outcome"] == "QUOTA_EXHAUSTED"
    admin = make_client(gw, certs.admin)
    status, body = await admin.request("GET", "/admin/v1/institutions/perpus-a/quota")
    assert (status, body["used"], body["limit"]) == (200, 200, 200)
    status, _ = await admin.request(
        "PATCH", "/admin/v1/institutions/perpus-a/policy", {"poc_approved": True}
    )
    assert status == 200
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    _, body = await admin.request("GET", "/admin/v1/institutions/perpus-a/quota")
    assert (body["used"], body["limit"]) == (200, None)


async def test_sanction_reduces_the_quota_of_an_approved_institution(
    store_kind: str, make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway(store=store_kind)
    admin = make_client(gw, certs.admin)
    status, body = await admin.request(
        "PATCH", "/admin/v1/institutions/dinsos-b/policy", {"sanctions": {"quota": 2}}
    )
    assert (status, body["policy"]["sanctions"]["quota"]) == (200, 2)
    kiosk = make_client(gw, certs.devices["KIOSK-B1"])
    outcomes = [(await kiosk.verify(AYU))[1]["outcome"] for _ in range(3)]
    assert outcomes == ["FOUND", "FOUND", "QUOTA_EXHAUSTED"]
    await admin.request(
        "PATCH", "/admin/v1/institutions/dinsos-b/policy", {"sanctions": {"quota": 0}}
    )
    assert (await kiosk.verify(AYU))[1]["outcome"] == "QUOTA_EXHAUSTED"
    await admin.request(
        "PATCH", "/admin/v1/institutions/dinsos-b/policy", {"sanctions": {"quota": None}}
    )
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"


async def test_upstream_failure_gives_the_quota_unit_back(
    store_kind: str,
    make_gateway: MakeGateway,
    make_client: MakeClient,
    certs: Certs,
    sim: RunningDukcapilSim,
) -> None:
    gw = await make_gateway(store=store_kind)
    day = local_day(gw.relay._clock.time(), 7)
    sim.set_fault("error", status=500)
    status, body = await make_client(gw, certs.devices["KIOSK-A1"]).verify(AYU)
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert await gw.store.quota_used("perpus-a", day) == 0


async def test_replicas_share_quota_policy_and_request_ids(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    one = await make_gateway(store="redis")
    two = await make_gateway(store="redis")
    day = local_day(one.relay._clock.time(), 7)
    for _ in range(190):
        await one.store.take_quota("perpus-a", day, 200)
    kiosks = [make_client(gw, certs.devices["KIOSK-A1"], limit=50) for gw in (one, two)]
    answers = await asyncio.gather(*(kiosks[i % 2].verify(AYU, f"{i:032x}") for i in range(100)))
    outcomes = [body["outcome"] for _, body in answers]
    assert outcomes.count("FOUND") == 10
    assert outcomes.count("QUOTA_EXHAUSTED") == 90

    # A request id retried on the other replica is counted once.
    _, body = await make_client(one, certs.devices["KIOSK-B1"]).verify(AYU, "ef" * 16)
    _, again = await make_client(two, certs.devices["KIOSK-B1"]).verify(AYU, "ef" * 16)
    assert again == body
    await one.usage.flush()
    await two.usage.flush()
    rows = await one.store.usage("dinsos-b", "0000-01-01", "9999-12-31")
    assert [(r.outcome, r.count) for r in rows] == [("FOUND", 1)]

    # A sanction set through one replica reaches the other at its next refresh.
    admin = make_client(one, certs.admin)
    await admin.request(
        "PATCH", "/admin/v1/institutions/dinsos-b/policy", {"sanctions": {"network_cut": True}}
    )
    async with asyncio.timeout(5):
        await two.registry.next_load()
    assert (await make_client(two, certs.devices["KIOSK-B1"]).verify(AYU))[0] == 403
