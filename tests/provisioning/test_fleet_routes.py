"""The fleet service's provisioning routes refusing what they must, and the escrowed key's clear
computed as the MCU's driver computes it."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fleet.provisioning.handover import chain_of
from hardware.supervisor.messages import clear_payload as driver_clear_payload
from protocol import handover as codec
from protocol.mcu_clear import clear_payload
from tests.provisioning.conftest import KIOSK, Kiosk


@pytest.mark.parametrize(("counter", "seq"), [(1, 1), (7, 3), (2**32 - 1, 0)])
def test_the_fleet_computes_the_drivers_clear(counter: int, seq: int) -> None:
    key = bytes(range(32))
    assert clear_payload(key, counter, seq) == driver_clear_payload(key, counter, seq)


async def _post(kiosk: Kiosk, path: str, body: Any, *, person: bool = True) -> tuple[int, str]:
    ctx = kiosk.fleet.pki.client_context(kiosk.fleet.technician if person else None)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http,
        http.post(kiosk.fleet.url + path, data=json.dumps(body).encode()) as resp,
    ):
        return resp.status, await resp.text()


async def test_records_are_refused_when_they_do_not_fit(kiosk: Kiosk) -> None:
    assert (await kiosk.run("install"))[0] == 0
    stored = chain_of(kiosk.fleet.store, KIOSK)[0]
    record = {k: v for k, v in stored.items() if k != "fleet"}
    path = f"/provision/v1/devices/{KIOSK}/records"
    # the same record again: the stored one (a resend after a cut)
    assert (await _post(kiosk, path, record))[0] == 201
    # no certificate at all
    status, text = await _post(kiosk, path, record, person=False)
    assert status == 403 and "certificate" in text
    # a changed body: the signatures no longer verify
    changed = copy.deepcopy(record)
    changed["body"]["location"] = "elsewhere"
    status, text = await _post(kiosk, path, changed)
    assert status == 400 and "does not verify" in text
    # another kiosk's URL
    status, text = await _post(kiosk, "/provision/v1/devices/KIOSK-EST-2/records", record)
    assert status == 400 and "another kiosk" in text
    # not JSON
    status, text = await _post(kiosk, path, "x" * 10)
    assert status == 400


async def test_a_record_must_continue_the_chain(kiosk: Kiosk) -> None:
    assert (await kiosk.run("install"))[0] == 0
    first = chain_of(kiosk.fleet.store, KIOSK)[0]
    body = codec.check_shape(first)
    tech_key = serialization.load_pem_private_key(kiosk.fleet.technician.key.read_bytes(), None)
    again = replace(body, at=body.at + 1)  # seq 0 again, not the stored one: a fork
    forked = codec.signed_record(
        again,
        kiosk_cert=x509.load_pem_x509_certificate(first["kiosk_cert"].encode()),
        kiosk_sig=None,
        technician_cert=kiosk.fleet.technician_cert(),
        technician_sig=codec.party_signature(again, tech_key),  # type: ignore[arg-type]
    )
    status, text = await _post(kiosk, f"/provision/v1/devices/{KIOSK}/records", forked)
    assert status == 400 and "only a decommission" in text
    forked["body"]["kind"] = "decommission"
    decommission = replace(again, kind="decommission")
    forked["technician_sig"] = codec.party_signature(decommission, tech_key)  # type: ignore[arg-type]
    status, text = await _post(kiosk, f"/provision/v1/devices/{KIOSK}/records", forked)
    assert status == 409 and "seq 1" in text


async def test_a_tamper_clear_needs_a_person_and_an_escrowed_key(kiosk: Kiosk) -> None:
    path = f"/provision/v1/devices/{KIOSK}/mcu-clear"
    status, text = await _post(kiosk, path, {"counter": 1, "tamper_seq": 1})
    assert status == 404 and "no MCU key" in text
    assert (await kiosk.run("install"))[0] == 0
    status, text = await _post(kiosk, path, {"counter": 1, "tamper_seq": 1}, person=False)
    assert status == 403
    status, text = await _post(kiosk, path, {"counter": -1, "tamper_seq": 1})
    assert status == 400
    status, text = await _post(kiosk, path, {"counter": 9, "tamper_seq": 4})
    assert status == 200
    assert kiosk.mcu.key is not None
    assert bytes.fromhex(json.loads(text)["payload"]) == clear_payload(kiosk.mcu.key, 9, 4)
