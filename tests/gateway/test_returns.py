"""Data balikan: the institution's own number for a person it looked up, relayed upstream."""

from __future__ import annotations

from typing import Any

from gateway.lookups import LookupMemory
from protocol.messages import parse_return_response
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import persona
from tests.clock import FakeClock
from tests.gateway.conftest import USERS, Certs, Client, MakeClient, MakeGateway, new_request_id

AYU = persona("ayu").nik
BAGAS = persona("bagas").nik
INTAN = persona("intan").nik  # not in the population: NOT_FOUND


async def _return(kiosk: Client, nik: str, number: str, rid: str | None = None) -> tuple[int, Any]:
    return await kiosk.request("POST", "/v1/returns", kiosk.data_balikan(nik, number, rid))


async def test_return_relayed_after_a_look_up(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-B1"])
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    rid = new_request_id()
    status, body = await _return(kiosk, AYU, "DINSOS-0042", rid)
    assert (status, body) == (200, {"request_id": rid, "accepted": True})
    assert parse_return_response(body).accepted
    assert sim.sim.returns[USERS["dinsos-b"][0], AYU] == "DINSOS-0042"
    assert await _return(kiosk, AYU, "DINSOS-0042", rid) == (status, body)
    assert sim.stats.returns == 1  # the retry was replayed, not relayed again
    other_key = kiosk.data_balikan(AYU, "DINSOS-0042", rid, "A" * 43)
    status, body = await kiosk.request("POST", "/v1/returns", other_key)
    assert (status, body["error"]["code"]) == (409, "CONFLICT")  # only the key's holder
    await gw.usage.flush()
    rows = await gw.store.usage("dinsos-b", "0000-01-01", "9999-12-31")
    assert {r.outcome: r.count for r in rows} == {"FOUND": 1, "RETURN_ACCEPTED": 1}


async def test_return_for_a_nik_this_device_did_not_look_up_is_refused_at_the_gateway(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    gw = await make_gateway()
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])
    other = make_client(gw, certs.devices["KIOSK-A2"])  # same institution, another device
    status, body = await _return(kiosk, AYU, "X-1")
    assert (status, body["accepted"], body["reason"]) == (200, False, "NOT_LOOKED_UP")
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    assert (await _return(other, AYU, "X-1"))[1]["reason"] == "NOT_LOOKED_UP"
    assert (await kiosk.verify(INTAN))[1]["outcome"] == "NOT_FOUND"
    assert (await _return(kiosk, INTAN, "X-2"))[1]["reason"] == "NOT_LOOKED_UP"  # no data
    assert sim.stats.returns == 0  # none of them reached the upstream
    assert (await _return(kiosk, AYU, "X-1"))[1]["accepted"] is True
    # one look-up carries one return: a second one (a new request id) is refused
    assert (await _return(kiosk, AYU, "X-1"))[1]["reason"] == "NOT_LOOKED_UP"
    await gw.usage.flush()
    rows = await gw.store.usage("perpus-a", "0000-01-01", "9999-12-31")
    counts = {r.outcome: r.count for r in rows}
    assert (counts["RETURN_ACCEPTED"], counts["RETURN_REFUSED"]) == (1, 4)


async def test_return_window_is_the_session_window(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    clock = FakeClock()

    def window(data: dict[str, Any]) -> None:
        data["returns"] = {"window_s": 120}

    gw = await make_gateway(clock=clock, mutate=window)
    kiosk = make_client(gw, certs.devices["KIOSK-B1"])
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    assert (await kiosk.verify(BAGAS))[1]["outcome"] == "FOUND"
    clock.advance(119)
    assert (await _return(kiosk, AYU, "X-1"))[1]["accepted"] is True
    clock.advance(2)
    assert (await _return(kiosk, BAGAS, "X-2"))[1]["reason"] == "NOT_LOOKED_UP"


def test_lookup_memory_holds_macs_only_and_is_bounded() -> None:
    clock = FakeClock()
    memory = LookupMemory(clock, window_s=60, max_entries=3)
    for i in range(5):
        memory.remember("K1", f"330401450892000{i}")
    assert len(memory) == 3
    assert not memory.looked_up("K1", "3304014508920000")  # the oldest went first
    assert memory.looked_up("K1", "3304014508920004")
    assert not memory.looked_up("K2", "3304014508920004")
    held = repr(memory._seen).encode()  # what the memory holds
    assert b"3304014508920004" not in held and b"K1" not in held
    clock.advance(61)
    assert not memory.looked_up("K1", "3304014508920004") and len(memory) == 0


async def test_return_refused_by_policy_and_by_upstream_failure(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs, sim: RunningDukcapilSim
) -> None:
    def inactive(data: dict[str, Any]) -> None:
        data["institutions"]["dinsos-b"]["active"] = False

    gw = await make_gateway(mutate=inactive)
    status, body = await _return(make_client(gw, certs.devices["KIOSK-B1"]), AYU, "X-1")
    assert (status, body["accepted"], body["reason"]) == (200, False, "INSTITUTION_INACTIVE")
    assert sim.stats.returns == 0
    other = await make_gateway()
    kiosk = make_client(other, certs.devices["KIOSK-A1"])
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    sim.set_fault("error")
    status, body = await _return(kiosk, AYU, "X-1")
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    sim.clear_fault()  # the look-up is not used up by a failure: the session may retry
    assert (await _return(kiosk, AYU, "X-1"))[1]["accepted"] is True
