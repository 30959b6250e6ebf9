"""Data balikan through the real parts: the agent's wiring and links, the real gateway (with the
Dukcapil simulator) and the institution simulator, over TLS; only card and finger are fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.tls import server_context
from edge_agent.config import (
    AgentConfig,
    BalikanConfig,
    DeviceConfig,
    GatewayConfig,
    ReaderConfig,
    TimeoutsConfig,
)
from edge_agent.session.screens import ScreenName
from edge_agent.wiring.app import Agent
from gateway.config import parse_config
from gateway.server import RunningGateway, start_gateway
from hardware.card.reader import CardEvent, CardEventKind
from hardware.fingerprint.packet import MatchResult
from kiosk_sim.pki import make_pki
from protocol.elements import DataElement
from protocol.outcomes import Outcome
from simulators.dukcapil import SimUser, start_dukcapil_sim
from simulators.institution import InstitutionFault, RunningInstitutionSim, start_institution_sim
from simulators.personas import PERSONAS
from tests.edge_agent.fakes import FakeCard, FakeFinger, Recorder, card_of
from tests.privacy.scan import scan_tree

AYU = PERSONAS["ayu"]
T = TimeoutsConfig(card_read=10, finger_wait=20, query=25, result_display=0.05)


class _NoLights:
    def show(self, pattern: str) -> None:
        """Nothing to light."""


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[Agent, RunningGateway, Any, Recorder]]:
    pki = make_pki(tmp_path / "pki")
    device = pki.issue_device("KIOSK-F1", "perpus-f")
    dukcapil = await start_dukcapil_sim(users=[SimUser("PERPUS-F", "sandi-f", "perpus-f")])
    (tmp_path / "pw").write_text("sandi-f\n")
    gw_config = {
        "server": {"host": "127.0.0.1", "port": 0},
        "tls": {
            "cert": str(pki.server.cert),
            "key": str(pki.server.key),
            "device_ca": str(pki.device_ca.cert),
            "admin_ca": str(pki.admin_ca.cert),
        },
        "store": {"path": str(tmp_path / "gw.sqlite3"), "usage_flush_s": 0.05},
        "upstream": {"url": dukcapil.url},
        "logging": {"main": str(tmp_path / "gw.log"), "access": str(tmp_path / "access.log")},
        "institutions": {
            "perpus-f": {
                "province": "33",
                "upstream_user": "PERPUS-F",
                "upstream_password_file": "pw",
                "elements": ["nik", "nama_lengkap", "tanggal_lahir", "jenis_kelamin"],
            }
        },
    }
    gateway = await start_gateway(parse_config(gw_config, tmp_path))
    server = pki.issue_server("institution")
    institution = await start_institution_sim(
        tmp_path / "institution",
        server_context(server.cert, server.key, [pki.device_ca.cert]),
    )
    config = AgentConfig(
        device=DeviceConfig("KIOSK-F1"),
        reader=ReaderConfig("RDR-F1", "SAM-F1"),
        gateway=GatewayConfig(gateway.url, pki.server_ca.cert, device.cert, device.key),
        timeouts=T,
        balikan=BalikanConfig(
            url=institution.url,
            ca_file=pki.server_ca.cert,
            elements=(DataElement.NIK, DataElement.FULL_NAME, DataElement.BIRTH_DATE),
            timeout=1.0,
        ),
    )
    screens = Recorder()
    card = FakeCard()
    agent = Agent(
        config,
        card=card,
        finger=FakeFinger(),
        indicators=_NoLights(),
        serve_ui=False,
        observers=(screens,),
        env={},
    )
    await agent.start()
    yield agent, gateway, institution, screens
    card.release()
    await agent.stop()
    await institution.close()
    await gateway.close()
    await dukcapil.close()


async def _returns(gateway: RunningGateway) -> int:
    await gateway.usage.flush()
    rows = await gateway.store.usage("perpus-f", "0000-01-01", "9999-12-31")
    return sum(r.count for r in rows if r.outcome == "RETURN_ACCEPTED")


async def _visit(agent: Agent, screens: Recorder) -> dict[str, Any]:
    assert agent._finger is not None and agent._card is not None
    agent._finger.feed(MatchResult(True, 90))  # type: ignore[attr-defined]
    agent._card.feed(card_of(AYU))  # type: ignore[attr-defined]
    agent.session.on_card_event(CardEvent(CardEventKind.INSERTED, "slot"))
    screen = await screens.expect(ScreenName.RESULT, Outcome.FOUND)
    message: dict[str, Any] = screen.to_message()["balikan"]
    agent.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))
    await screens.expect(ScreenName.IDLE)
    return message


async def test_found_then_the_number_is_returned_and_counted_once(
    parts: tuple[Agent, RunningGateway, RunningInstitutionSim, Recorder], tmp_path: Path
) -> None:
    agent, gateway, institution, screens = parts
    assert await _returns(gateway) == 0
    shown = await _visit(agent, screens)
    assert (shown["outcome"], shown["number"]) == ("RETURNED", "PERPUS-SIM-000001")
    assert await _returns(gateway) == 1

    institution.set_fault(InstitutionFault.MALFORMED)
    shown = await _visit(agent, screens)
    assert (shown["outcome"], shown["number"]) == ("INSTITUTION_UNAVAILABLE", None)
    assert await _returns(gateway) == 1

    needles = {"ayu.nik": AYU.nik, "ayu.name": AYU.full_name}
    assert scan_tree([tmp_path], needles) == []
