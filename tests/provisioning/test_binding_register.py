"""register_inventory against the fleet service's hardware route and a real gateway: pinned at
once; a SAM not activated, a refused certificate, an unreachable fleet service or gateway each a
typed error with a message a technician can act on; Inventory's JSON round trip."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest

from common.tls import client_context
from fleet.gateway import GatewayAdmin
from gateway.server import RunningGateway
from protocol.inventory import Inventory
from protocol.strict import StrictError
from provisioning.binding import (
    RegistrationError,
    SamNotActivatedError,
    register_inventory,
)
from provisioning.errors import EXIT_HARDWARE
from tests.fleet.ca.bindings_rig import INVENTORY, serve_bindings
from tests.fleet.ca.conftest import KIOSK, Est, est
from tests.fleet.conftest import gateway
from tests.mqtt.fixtures import Certs, certs

__all__ = ["certs", "est", "gateway"]
INV = Inventory.from_json(INVENTORY)


def test_inventory_json_round_trip() -> None:
    assert Inventory.from_json(INV.as_json()) == INV
    assert INV.reader_id == "RDR-SIM-0001" and INV.sam_id == "SAM-SIM-0001"
    nameless = Inventory.from_json({**INVENTORY, "reader_serial": None, "mcu_id": None})
    assert nameless.reader_id == "Virtual-PCD-00-00"
    assert "mcu" not in nameless.bindings()
    for bad in (
        {**INVENTORY, "sam_activated": "yes"},
        {**INVENTORY, "sensor_params": {"Bad Key": 1}},
        {**INVENTORY, "sensor_params": {"x": 1.5}},
        {k: v for k, v in INVENTORY.items() if k != "sam_serial"},
    ):
        with pytest.raises(StrictError):
            Inventory.from_json(bad)


async def test_registered_and_pinned(est: Est, gateway: RunningGateway, certs: Certs) -> None:
    gw_ctx = client_context(certs.pki.server_ca.cert, certs.admin.cert, certs.admin.key)
    async with serve_bindings(est, lambda: GatewayAdmin(gateway.url, gw_ctx)) as url:
        ctx = est.context(est.technician)
        await asyncio.to_thread(register_inventory, url, ctx, KIOSK, INV)
        await asyncio.to_thread(register_inventory, url, ctx, KIOSK, INV)  # again: harmless
    pin = gateway.registry.pin(KIOSK)
    assert pin is not None and (pin.reader_id, pin.sam_id) == ("RDR-SIM-0001", "SAM-SIM-0001")


async def test_bad_input_is_a_typed_error(est: Est) -> None:
    async with serve_bindings(est, None) as url:
        ctx = est.context(est.technician)
        not_active = Inventory.from_json({**INVENTORY, "sam_activated": False})
        with pytest.raises(SamNotActivatedError) as caught:
            await asyncio.to_thread(register_inventory, url, ctx, KIOSK, not_active)
        assert caught.value.exit_code == EXIT_HARDWARE and "Dukcapil" in caught.value.message_id

        with pytest.raises(RegistrationError) as refused:
            await asyncio.to_thread(register_inventory, url, est.context(None), KIOSK, INV)
        assert refused.value.code == "FLEET_FORBIDDEN" and not refused.value.retry

        with pytest.raises(RegistrationError) as unpinned:  # no gateway: stored, not pinned
            await asyncio.to_thread(register_inventory, url, ctx, KIOSK, INV)
        assert unpinned.value.code == "GATEWAY_NOT_PINNED" and unpinned.value.retry

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once this block ends: nothing listens
    with pytest.raises(RegistrationError) as down:
        await asyncio.to_thread(
            register_inventory,
            f"https://127.0.0.1:{port}",
            ssl.create_default_context(),
            KIOSK,
            INV,
        )
    assert down.value.code == "FLEET_UNREACHABLE" and down.value.retry
    assert "jaringan" in down.value.message_id
    with pytest.raises(RegistrationError):
        register_inventory("http://fleet", ssl.create_default_context(), KIOSK, INV)
