"""The agent's link to the institution's service against the simulated member registry, over real
TLS with client certificates: numbers, every failure kind, and nothing personal on its disk."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from common.tls import server_context
from edge_agent.config import BalikanConfig, GatewayConfig
from edge_agent.errors import ConfigError
from edge_agent.session.institution_link import (
    InstitutionFailure,
    InstitutionLink,
    institution_tls,
)
from kiosk_sim.pki import Pki, make_pki
from protocol.elements import DataElement
from simulators.institution import InstitutionFault, RunningInstitutionSim, start_institution_sim
from simulators.institution.app import LOG_FILE, REGISTER
from simulators.personas import PERSONAS
from tests.privacy.scan import scan_tree

AYU, BAGAS = PERSONAS["ayu"], PERSONAS["bagas"]


def _elements(p: object) -> dict[DataElement, bytearray]:
    nik, name = getattr(p, "nik"), getattr(p, "full_name")  # noqa: B009
    return {
        DataElement.NIK: bytearray(nik.encode()),
        DataElement.FULL_NAME: bytearray(name.encode()),
    }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def registry(pki: Pki, tmp_path: Path) -> AsyncIterator[RunningInstitutionSim]:
    server = pki.issue_server("institution")
    ctx = server_context(server.cert, server.key, [pki.device_ca.cert])
    running = await start_institution_sim(tmp_path / "institution", ctx)
    yield running
    await running.close()


def _config(url: str, pki: Pki, timeout: float = 2.0) -> BalikanConfig:
    return BalikanConfig(
        url=url, ca_file=pki.server_ca.cert, elements=(DataElement.NIK,), timeout=timeout
    )


async def _link(
    pki: Pki, url: str, *, foreign: bool = False, timeout: float = 2.0
) -> InstitutionLink:
    device = pki.issue_device("KIOSK-T1", "perpus-a", foreign=foreign)
    gateway = GatewayConfig("https://127.0.0.1:1", pki.server_ca.cert, device.cert, device.key)
    config = _config(url, pki, timeout)
    link = InstitutionLink(config, "KIOSK-T1", institution_tls(config, gateway))
    await link.start()
    return link


async def test_numbers_per_person_and_nothing_personal_on_the_registrys_disk(
    pki: Pki, registry: RunningInstitutionSim, tmp_path: Path
) -> None:
    link = await _link(pki, registry.url)
    try:
        first = await link.member_number(secrets.token_hex(16), _elements(AYU))
        again = await link.member_number(secrets.token_hex(16), _elements(AYU))
        other = await link.member_number(secrets.token_hex(16), _elements(BAGAS))
    finally:
        await link.close()
    assert first == again == bytearray(b"PERPUS-SIM-000001")
    assert other == bytearray(b"PERPUS-SIM-000002")
    assert (registry.stats.issued, registry.stats.answered) == (2, 3)
    folder = tmp_path / "institution"
    register = (folder / REGISTER).read_text().split()
    assert register[0::2] == ["PERPUS-SIM-000001", "PERPUS-SIM-000002"]
    log = (folder / LOG_FILE).read_text()
    assert "PERPUS-SIM-000002" in log and "kiosk=KIOSK-T1" in log
    needles = {f"{p.key}.nik": p.nik for p in (AYU, BAGAS)}
    needles |= {f"{p.key}.name": p.full_name for p in (AYU, BAGAS)}
    assert scan_tree([folder], needles) == []


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (InstitutionFault.REFUSE, "refused"),
        (InstitutionFault.MALFORMED, "malformed"),
        (InstitutionFault.ERROR, "status"),
        (InstitutionFault.SLOW, "timeout"),
    ],
)
async def test_each_fault_is_a_typed_failure_without_personal_data(
    pki: Pki, registry: RunningInstitutionSim, fault: InstitutionFault, kind: str
) -> None:
    registry.set_fault(fault)
    link = await _link(pki, registry.url, timeout=0.3)
    try:
        with pytest.raises(InstitutionFailure) as caught:
            await link.member_number(secrets.token_hex(16), _elements(AYU))
    finally:
        await link.close()
    assert caught.value.kind == kind
    assert AYU.nik not in str(caught.value) and AYU.full_name not in str(caught.value)


async def test_a_service_that_is_down_or_refuses_the_kiosks_certificate(
    pki: Pki, registry: RunningInstitutionSim
) -> None:
    foreign = await _link(pki, registry.url, foreign=True)
    try:
        with pytest.raises(InstitutionFailure) as caught:
            await foreign.member_number(secrets.token_hex(16), _elements(AYU))
        assert caught.value.kind in ("tls", "down")
    finally:
        await foreign.close()
    await registry.stop_listening()
    link = await _link(pki, registry.url)
    try:
        with pytest.raises(InstitutionFailure) as caught:
            await link.member_number(secrets.token_hex(16), _elements(AYU))
        assert caught.value.kind == "down"
        await registry.listen()  # back on the same port
        assert await link.member_number(secrets.token_hex(16), _elements(AYU))
    finally:
        await link.close()


async def test_the_registry_refuses_a_malformed_request_naming_the_field(
    pki: Pki, registry: RunningInstitutionSim
) -> None:
    device = pki.issue_device("KIOSK-T2", "perpus-a")
    ctx = pki.client_context(device)
    bodies = [
        ({"request_id": "ab" * 16, "elements": {}}, "elements: must not be empty"),
        ({"request_id": "ab" * 16, "elements": {"sidik_jari": "x"}}, "unknown element name"),
        ({"request_id": "nope", "elements": {"nik": AYU.nik}}, "request_id: must match"),
    ]
    async with aiohttp.ClientSession() as http:
        for body, message in bodies:
            async with http.post(registry.url, json=body, ssl=ctx) as resp:
                answer = await resp.json()
            assert resp.status == 400 and answer["error"]["code"] == "BAD_REQUEST"
            assert message in answer["error"]["message"]
            assert AYU.nik not in json.dumps(answer)
    assert registry.stats.bad_requests == 3


def test_unreadable_tls_files_name_the_key(pki: Pki, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate\n")
    device = pki.issue_device("KIOSK-T3", "perpus-a")
    gateway = GatewayConfig("https://127.0.0.1:1", pki.server_ca.cert, device.cert, device.key)
    config = BalikanConfig(url="https://x/v1/members", ca_file=broken, elements=(DataElement.NIK,))
    with pytest.raises(ConfigError) as caught:
        institution_tls(config, gateway)
    assert caught.value.key == "balikan.ca_file"
