"""The Dukcapil simulator, driven through the gateway's own adapter and its control endpoint."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.upstream.base import ReturnAnswer, UpstreamAccount
from gateway.upstream.dukcapil import DukcapilHttpUpstream
from gateway.upstream.pool import HttpPool
from protocol.errors import NikFormatError
from protocol.outcomes import Outcome
from simulators.dukcapil import Population, RunningDukcapilSim, SimUser, start_dukcapil_sim
from simulators.dukcapil.faults import Fault, FaultKind
from simulators.dukcapil.population import generated_record, record_of
from simulators.personas import PERSONAS, RecordStatus, persona
from tests.clock import FakeClock

ACCOUNT = UpstreamAccount("inst", "USER-1", "pw-1")
# Valid NIKs of no persona: a woman born 7 November 1993, a man born 2 March 1961.
STRANGER_F = "3313064711930042"
STRANGER_M = "6171050203610517"
RECORD_KEYS = set(record_of(persona("ayu")))


@pytest.fixture
async def clocked() -> AsyncIterator[tuple[RunningDukcapilSim, FakeClock]]:
    clock = FakeClock(1_700_000_000.0)
    users = [SimUser("USER-1", "pw-1", "inst", daily_quota=3), SimUser("USER-2", "pw-2", "x")]
    running = await start_dukcapil_sim(users=users, clock=clock.time, token_ttl_s=60)
    yield running, clock
    await running.close()


def adapter(sim: RunningDukcapilSim) -> DukcapilHttpUpstream:
    return DukcapilHttpUpstream(HttpPool(sim.url, connections=2, timeout_s=2.0))


@pytest.fixture
async def generated() -> AsyncIterator[RunningDukcapilSim]:
    running = await start_dukcapil_sim(
        users=[SimUser("USER-1", "pw-1", "inst")],
        population=Population.from_personas(generated=True),
    )
    yield running
    await running.close()


async def raw_lookup(sim: RunningDukcapilSim, nik: str) -> dict[str, Any]:
    """The simulator's JSON answer for one NIK, record extras included (the adapter drops them)."""
    async with aiohttp.ClientSession() as http:
        login = {"user_id": "USER-1", "password": "pw-1"}
        async with http.post(sim.url + "/api/v1/login", json=login) as r:
            token = (await r.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(sim.url + "/api/v1/nik", json={"nik": nik}, headers=headers) as r:
            assert r.status == 200
            answer: dict[str, Any] = await r.json()
    return answer


@pytest.mark.parametrize("generated_population", [False, True])
async def test_every_persona_outcome_through_the_adapter(generated_population: bool) -> None:
    population = Population.from_personas(generated=generated_population)
    sim = await start_dukcapil_sim(users=[SimUser("USER-1", "pw-1", "inst")], population=population)
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
            if answer.record:
                assert answer.record["nama_lengkap"] == p.full_name
        assert sim.stats.logins == 1
    finally:
        await up.close()
        await sim.close()


async def test_default_population_does_not_know_strangers(
    clocked: tuple[RunningDukcapilSim, FakeClock],
) -> None:
    sim, _ = clocked
    answer = await raw_lookup(sim, STRANGER_F)
    assert answer["code"] == Outcome.NOT_FOUND.value
    assert "data" not in answer


async def test_generated_population_finds_strangers(generated: RunningDukcapilSim) -> None:
    answer = await raw_lookup(generated, STRANGER_F)
    assert answer["code"] == Outcome.FOUND.value
    record = answer["data"]
    assert set(record) == RECORD_KEYS
    assert record["nik"] == STRANGER_F
    assert record["tanggal_lahir"] == "07-11-1993"
    assert record["jenis_kelamin"] == "PEREMPUAN"
    assert record["kode_kecamatan"] == "331306"
    assert record["nama_provinsi"] == "JAWA TENGAH"
    assert len(record["no_kk"]) == 16
    assert record["no_kk"].isdigit() and record["no_kk"][:6] == "331306"
    assert await raw_lookup(generated, STRANGER_F) == answer  # the same record every time
    up = adapter(generated)
    try:
        male = await up.verify(ACCOUNT, STRANGER_M)
    finally:
        await up.close()
    assert male.outcome is Outcome.FOUND
    assert male.record["tanggal_lahir"] == "02-03-1961"
    assert male.record["jenis_kelamin"] == "LAKI-LAKI"


async def test_generated_population_keeps_persona_answers(generated: RunningDukcapilSim) -> None:
    deceased, absent = persona("darmo"), persona("intan")
    answer = await raw_lookup(generated, deceased.nik)
    assert answer["code"] == Outcome.FOUND_DECEASED.value
    assert answer["data"] == record_of(deceased)
    assert await raw_lookup(generated, absent.nik) == {
        "code": Outcome.NOT_FOUND.value,
        "message": Outcome.NOT_FOUND.info.text_id,
    }
    assert (await raw_lookup(generated, persona("joko").nik))["code"] == (
        Outcome.INVALID_NIK_FORMAT.value
    )


def test_generated_records() -> None:
    niks = [
        f"{region}{day + plus:02d}{month:02d}{year:02d}{serial:04d}"
        for region in ("330401", "121802", "617105")
        for day in (1, 15, 28)
        for plus in (0, 40)
        for month in (2, 12)
        for year in (0, 57, 99)
        for serial in (1, 4321, 9999)
    ]
    today = dt.date.today()
    for nik in niks:
        record = generated_record(nik)
        assert set(record) == RECORD_KEYS
        assert record == generated_record(nik)
        assert 10 <= len(record["nama_lengkap"]) <= 25
        born = dt.datetime.strptime(record["tanggal_lahir"], "%d-%m-%Y").date()
        assert born <= dt.date(today.year, 12, 31)
        assert born.strftime("%d%m%y") == f"{int(nik[6:8]) % 40:02d}{nik[8:12]}"
        assert record["jenis_kelamin"] == ("PEREMPUAN" if int(nik[6:8]) > 40 else "LAKI-LAKI")
    assert len({generated_record(nik)["nama_lengkap"] for nik in niks}) > 20
    with pytest.raises(NikFormatError):
        generated_record("3313064711930000")
    population = Population.from_personas(generated=True)
    assert population.lookup("3313064711930000") == (Outcome.NOT_FOUND, {})
    assert repr(population) == f"Population(<{len(PERSONAS)} records>, generated)"


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
