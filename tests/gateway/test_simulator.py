"""The Dukcapil simulator, driven through the gateway's own adapter and its control endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.upstream.base import ReturnAnswer, UpstreamAccount
from gateway.upstream.dukcapil import DukcapilHttpUpstream
from gateway.upstream.pool import HttpPool
from protocol.outcomes import Outcome
from simulators.dukcapil import RunningDukcapilSim, SimUser, start_dukcapil_sim
from simulators.dukcapil.faults import Fault, FaultKind
from simulators.personas import PERSONAS, RecordStatus, persona
from tests.gateway.conftest import FakeClock

ACCOUNT = UpstreamAccount("inst", "USER-1", "pw-1")


@pytest.fixture
async def clocked() -> AsyncIterator[tuple[RunningDukcapilSim, FakeClock]]:
    clock = FakeClock(1_700_000_000.0)
    users = [SimUser("USER-1", "pw-1", "inst", daily_quota=3), SimUser("USER-2", "pw-2", "x")]
    running = await start_dukcapil_sim(users=users, clock=clock.time, token_ttl_s=60)
    yield running, clock
    await running.close()


def adapter(sim: RunningDukcapilSim) -> DukcapilHttpUpstream:
    return DukcapilHttpUpstream(HttpPool(sim.url, connections=2, timeout_s=2.0))


async def test_every_persona_outcome_through_the_adapter() -> None:
    sim = await start_dukcapil_sim(users=[SimUser("USER-1", "pw-1", "inst")])
    up = adapter(sim)
    expected = {
        RecordStatus.ACTIVE: Outcome.FOUND,
        RecordStatus.DECEASED: Outcome.FOUND_DECEASED,
        RecordStatus.DUPLICATE: Outcome.FOUND_DUPLICATE,
        RecordStatus.INACTIVE: Outcome.FOUND_INACTIVE,
        RecordStatus.ABSENT: Outcome.NOT_FOUND,
    }
    try:
        for p in PERSONAS.values():
            answer = await up.verify(ACCOUNT, p.nik)
            want = Outcome.INVALID_NIK_FORMAT if p.key == "joko" else expected[p.status]
            assert answer.outcome is want, p.key
            assert bool(answer.record) == want.info.data_returned
        assert sim.stats.logins == 1
    finally:
        await up.close()
        await sim.close()


async def test_login_failure_and_user_states(clocked: tuple[RunningDukcapilSim, FakeClock]) -> None:
    sim, _ = clocked
    up = adapter(sim)
    nik = persona("ayu").nik
    assert (await up.verify(UpstreamAccount("i", "USER-1", "nope"), nik)).outcome is (
        Outcome.LOGIN_FAILED
    )
    assert (await up.verify(UpstreamAccount("i", "NOBODY", "x"), nik)).outcome is (
        Outcome.LOGIN_FAILED
    )
    sim.sim.users["USER-2"].active = False
    assert (await up.verify(UpstreamAccount("x", "USER-2", "pw-2"), nik)).outcome is (
        Outcome.USER_INACTIVE
    )
    await up.close()


async def test_quota_and_token_expiry(clocked: tuple[RunningDukcapilSim, FakeClock]) -> None:
    sim, clock = clocked
    up = adapter(sim)
    nik = persona("ayu").nik
    outcomes = [(await up.verify(ACCOUNT, nik)).outcome for _ in range(4)]
    assert outcomes == [Outcome.FOUND] * 3 + [Outcome.QUOTA_EXHAUSTED]
    clock.advance(86400)  # a new day, and the token has expired
    assert (await up.verify(ACCOUNT, nik)).outcome is Outcome.FOUND
    assert sim.stats.logins == 2
    await up.close()


async def test_returns(clocked: tuple[RunningDukcapilSim, FakeClock]) -> None:
    sim, _ = clocked
    up = adapter(sim)
    nik = persona("bagas").nik
    assert await up.send_return(ACCOUNT, nik, "M-1") == ReturnAnswer(False, "REJECTED")
    await up.verify(ACCOUNT, nik)
    assert await up.send_return(ACCOUNT, nik, "M-1") == ReturnAnswer(True)
    assert sim.sim.returns["USER-1", nik] == "M-1"
    await up.close()


async def test_control_endpoint(clocked: tuple[RunningDukcapilSim, FakeClock]) -> None:
    sim, _ = clocked
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.url + "/_control/fault", json={"kind": "error", "count": 1}) as r:
            assert r.status == 200
        async with http.post(sim.url + "/api/v1/login", json={}) as r:
            assert r.status == 503
        async with http.post(sim.url + "/api/v1/login", json={}) as r:
            assert r.status == 400  # the fault was for one request only
        async with http.post(sim.url + "/_control/fault", json={"kind": "melt"}) as r:
            assert r.status == 400
        async with http.get(sim.url + "/_control/stats") as r:
            stats = await r.json()
    assert stats["faults"] == 1


def test_fault_documents() -> None:
    assert Fault.from_json({"kind": "slow", "delay_s": 1}) == Fault(FaultKind.SLOW, None, 1.0)
    bad_documents: list[object] = [
        {"kind": "slow", "delay_s": -1},
        {"count": 0},
        {"status": 200},
        {"x": 1},
        [],
    ]
    for bad in bad_documents:
        with pytest.raises(ValueError):
            Fault.from_json(bad)
