"""Reader/SAM pins set through the admin API: in force at once (no restart), persisted on both
stores, picked up by another replica, and a kiosk whose request names other hardware (a reader
or a SAM swapped) is refused."""

from __future__ import annotations

from typing import Any

from simulators.personas import persona
from tests.gateway.conftest import Certs, MakeClient, MakeGateway

AYU = persona("ayu").nik
BIND = "/admin/v1/devices/KIOSK-A2/binding"
PIN = {"reader_id": "RDR-SIM-0001", "sam_id": "SAM-SIM-0001"}


async def _status_of(
    make_client: MakeClient, gw: Any, certs: Certs, reader: tuple[str, str]
) -> Any:
    kiosk = make_client(gw, certs.devices["KIOSK-A2"])
    kiosk.reader = reader
    status, body = await kiosk.verify(AYU)
    return status, body.get("outcome") or body["error"]["code"]


async def test_a_stored_pin_refuses_swapped_hardware_without_a_restart(
    store_kind: str, make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway(store=store_kind)
    admin = make_client(gw, certs.admin)
    assert await _status_of(make_client, gw, certs, ("RDR-X", "SAM-X")) == (200, "FOUND")

    status, body = await admin.request("PUT", BIND, PIN)
    assert status == 200
    assert body == {"device_id": "KIOSK-A2", **PIN, "stored": True}
    bound = ("RDR-SIM-0001", "SAM-SIM-0001")
    assert await _status_of(make_client, gw, certs, bound) == (200, "FOUND")
    refused = (403, "DEVICE_DEACTIVATED")
    assert await _status_of(make_client, gw, certs, ("RDR-SWAPPED", "SAM-SIM-0001")) == refused
    assert await _status_of(make_client, gw, certs, ("RDR-SIM-0001", "SAM-SWAPPED")) == refused
    assert (await admin.request("GET", BIND))[1]["reader_id"] == "RDR-SIM-0001"
    await gw.close()

    again = await make_gateway(store=store_kind)  # persisted
    assert await _status_of(make_client, again, certs, ("RDR-X", "SAM-X")) == refused
    assert await _status_of(make_client, again, certs, bound) == (200, "FOUND")
    admin = make_client(again, certs.admin)
    status, body = await admin.request("DELETE", BIND)
    assert (status, body["stored"], body["reader_id"]) == (200, False, None)
    assert await _status_of(make_client, again, certs, ("RDR-X", "SAM-X")) == (200, "FOUND")
    assert (await admin.request("GET", BIND))[0] == 404


async def test_a_stored_pin_wins_over_the_config_pin(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    admin = make_client(gw, certs.admin)
    path = "/admin/v1/devices/KIOSK-A1/binding"
    status, body = await admin.request("GET", path)
    assert (status, body["reader_id"], body["stored"]) == (200, "RDR-A1", False)
    assert (await admin.request("PUT", path, {"reader_id": "RDR-NEW", "sam_id": "SAM-NEW"}))[
        0
    ] == 200
    kiosk = make_client(gw, certs.devices["KIOSK-A1"])  # still sends the config's RDR-A1
    status, body = await kiosk.verify(AYU)
    assert (status, body["error"]["code"]) == (403, "DEVICE_DEACTIVATED")
    kiosk.reader = ("RDR-NEW", "SAM-NEW")
    assert (await kiosk.verify(AYU))[1]["outcome"] == "FOUND"
    await admin.request("DELETE", path)  # the config pin again
    assert (await admin.request("GET", path))[1]["reader_id"] == "RDR-A1"


async def test_another_replica_picks_the_pin_up(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    one = await make_gateway(store="redis")
    two = await make_gateway(store="redis")
    assert (await make_client(one, certs.admin).request("PUT", BIND, PIN))[0] == 200
    await two.registry.next_load()
    status, _ = await _status_of(make_client, two, certs, ("RDR-X", "SAM-X"))
    assert status == 403
    assert await _status_of(make_client, two, certs, ("RDR-SIM-0001", "SAM-SIM-0001")) == (
        200,
        "FOUND",
    )
    await make_client(one, certs.admin).request("DELETE", BIND)


async def test_bad_pins_name_the_key(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    gw = await make_gateway()
    admin = make_client(gw, certs.admin)
    cases: list[tuple[Any, str]] = [
        ({"sam_id": "SAM-1"}, "binding.reader_id"),
        ({"reader_id": "RDR 1", "sam_id": "SAM-1"}, "binding.reader_id"),
        ({"reader_id": "RDR-1", "sam_id": ""}, "binding.sam_id"),
        ({"reader_id": "RDR-1", "sam_id": "SAM-1", "extra": 1}, "binding.extra"),
    ]
    for body, field in cases:
        status, answer = await admin.request("PUT", BIND, body)
        assert (status, answer["error"]["field"]) == (400, field), body
    status, _ = await admin.request("PUT", "/admin/v1/devices/bad%20id/binding", PIN)
    assert status == 400
    kiosk = make_client(gw, certs.devices["KIOSK-A2"])
    assert (await kiosk.request("PUT", BIND, PIN))[0] == 403
    assert gw.registry.pin("KIOSK-A2") is None


async def test_a_read_only_admin_cannot_pin(
    make_gateway: MakeGateway, make_client: MakeClient, certs: Certs
) -> None:
    def read_only(data: dict[str, Any]) -> None:
        data["tls"]["read_only_admins"] = ["admin-1"]

    gw = await make_gateway(mutate=read_only)
    viewer = make_client(gw, certs.admin)
    for method in ("PUT", "DELETE"):
        assert (await viewer.request(method, BIND, PIN if method == "PUT" else None))[0] == 403
    assert gw.registry.pin("KIOSK-A2") is None
