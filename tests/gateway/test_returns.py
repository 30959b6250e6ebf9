"""Data balikan: the institution's own number for a person it looked up, relayed upstream."""

from __future__ import annotations

from typing import Any

from protocol.messages import parse_return_response
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import persona
from tests.gateway.conftest import USERS, Certs, Client, MakeClient, MakeGateway, new_request_id

AYU = persona("ayu").nik


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


async def test_return_for_a_person_never_looked_up_is_rejected(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    status, body = await _return(make_client(gw, certs.devices["KIOSK-B1"]), AYU, "X-1")
    assert (status, body["accepted"], body["reason"]) == (200, False, "REJECTED")


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
    sim.set_fault("error")
    status, body = await _return(make_client(other, certs.devices["KIOSK-A1"]), AYU, "X-1")
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
