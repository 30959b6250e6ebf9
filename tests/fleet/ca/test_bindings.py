"""PUT/DELETE /provision/v1/devices/{id}/hardware: a technician or the kiosk itself registers the
hardware read from the devices; the registry keeps it, the gateway pins reader and SAM at once,
the audit trail says who; hardware may not change hands."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp

from common.tls import client_context
from fleet.gateway import GatewayAdmin
from gateway.server import RunningGateway
from kiosk_sim.pki import Issued
from tests.fleet.ca.bindings_rig import INVENTORY, serve_bindings
from tests.fleet.ca.conftest import INSTITUTION, KIOSK, OTHER_KIOSK, Est, _person
from tests.mqtt.fixtures import Certs

PATH = f"/provision/v1/devices/{KIOSK}/hardware"


def _gateway(gateway: RunningGateway, certs: Certs) -> Callable[[], GatewayAdmin]:
    ctx = client_context(certs.pki.server_ca.cert, certs.admin.cert, certs.admin.key)
    return lambda: GatewayAdmin(gateway.url, ctx)


async def _send(
    est: Est, url: str, method: str, path: str, who: Issued | None, body: Any = None
) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    connector = aiohttp.TCPConnector(ssl=est.context(who))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, url + path, data=data) as resp,
    ):
        return resp.status, await resp.text()


async def test_a_technician_registers_and_the_gateway_pins_at_once(
    est: Est, gateway: RunningGateway, certs: Certs
) -> None:
    async with serve_bindings(est, _gateway(gateway, certs)) as url:
        status, text = await _send(est, url, "PUT", PATH, est.technician, INVENTORY)
        assert status == 200, text
        assert json.loads(text)["gateway_pinned"] is True
        entry = est.store.device(KIOSK)
        assert entry is not None
        assert dict(entry.bindings) == {
            "reader": "RDR-SIM-0001",
            "sam": "SAM-SIM-0001",
            "sensor": "FPM-SIM-0001",
            "mcu": "E6613852834B2A21",
        }
        pin = gateway.registry.pin(KIOSK)  # in force without a gateway restart
        assert pin is not None and (pin.reader_id, pin.sam_id) == ("RDR-SIM-0001", "SAM-SIM-0001")
        audit = est.store.audit_lines(KIOSK)[-1].entry
        assert (audit.admin, audit.action, audit.outcome) == ("tech-1", "bind_hardware", "done")
        assert audit.detail["sam"] == "SAM-SIM-0001"

        # the same SAM may not be bound to another kiosk ("may not change hands")
        other = f"/provision/v1/devices/{OTHER_KIOSK}/hardware"
        status, text = await _send(est, url, "PUT", other, est.technician, INVENTORY)
        assert status == 409 and "bound to KIOSK-EST-1" in text

        status, text = await _send(est, url, "DELETE", PATH, est.technician)
        assert status == 200, text
        assert est.store.device(KIOSK).bindings == {}  # type: ignore[union-attr]
        assert gateway.registry.pin(KIOSK) is None
        assert est.store.audit_lines(KIOSK)[-1].entry.action == "unbind_hardware"


async def test_the_kiosk_registers_its_own_hardware_but_cannot_change_it(
    est: Est, gateway: RunningGateway, certs: Certs
) -> None:
    kiosk = est.pki.issue_device(KIOSK, INSTITUTION)
    async with serve_bindings(est, _gateway(gateway, certs)) as url:
        assert (await _send(est, url, "PUT", PATH, kiosk, INVENTORY))[0] == 200
        assert (await _send(est, url, "PUT", PATH, kiosk, INVENTORY))[0] == 200  # again: same
        swapped = {**INVENTORY, "sam_serial": "SAM-SWAPPED"}
        status, text = await _send(est, url, "PUT", PATH, kiosk, swapped)
        assert status == 409 and "technician" in text
        other = f"/provision/v1/devices/{OTHER_KIOSK}/hardware"
        assert (await _send(est, url, "PUT", other, kiosk, INVENTORY))[0] == 403
        assert (await _send(est, url, "DELETE", PATH, kiosk))[0] == 403
        # a technician registers the repair
        assert (await _send(est, url, "PUT", PATH, est.technician, swapped))[0] == 200
        pin = gateway.registry.pin(KIOSK)
        assert pin is not None and pin.sam_id == "SAM-SWAPPED"


async def test_refusals(est: Est) -> None:
    viewer = _person(est.pki, est.folder, "viewer-1", "read-only-admin")
    async with serve_bindings(est, None) as url:
        assert (await _send(est, url, "PUT", PATH, None, INVENTORY))[0] == 403
        assert (await _send(est, url, "PUT", PATH, viewer, INVENTORY))[0] == 403
        not_active = {**INVENTORY, "sam_activated": False}
        status, text = await _send(est, url, "PUT", PATH, est.technician, not_active)
        assert status == 409 and "not activated" in text
        for bad, where in (
            ({**INVENTORY, "sam_serial": "SAM 1"}, "inventory.sam_serial"),
            ({**INVENTORY, "nik": "3304014508920003"}, "inventory.nik: unknown key"),
            ([], "inventory"),
        ):
            status, text = await _send(est, url, "PUT", PATH, est.technician, bad)
            assert status == 400 and where in text, text
            assert "3304014508920003" not in text
        unknown = "/provision/v1/devices/KIOSK-NOBODY/hardware"
        assert (await _send(est, url, "PUT", unknown, est.technician, INVENTORY))[0] == 404
        # no gateway configured: stored, and the caller is told the pin is missing
        status, text = await _send(est, url, "PUT", PATH, est.technician, INVENTORY)
        assert status == 502 and "no [gateway]" in text
        assert est.store.device(KIOSK).bindings["sam"] == "SAM-SIM-0001"  # type: ignore[union-attr]
        assert est.store.audit_lines(KIOSK)[-1].entry.outcome == "gateway_failed"
