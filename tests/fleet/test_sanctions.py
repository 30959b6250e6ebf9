"""Every sanction and the bulk deactivation through the whole stack: the real `kiosk-fleet` (as
a subprocess), the real mosquitto, the real gateway on the Dukcapil simulator, and two kiosks
(the agent in-process on fake card and finger, its real gateway link and MQTT uplink). The
scenarios are the demo's (kiosk_sim.fleet_sanctions)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.config import AdminConfig, AgentConfig
from edge_agent.session.screens import ScreenName
from edge_agent.wiring.app import Agent
from fleet.store.sqlite import SqliteStore
from gateway.config import parse_config as gateway_config
from gateway.server import RunningGateway, start_gateway
from hardware.card.reader import CardEvent, CardEventKind
from hardware.fingerprint.packet import MatchResult
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.fleet_sanctions import SANCTION_SCENARIOS, gateway_lookup
from kiosk_sim.fleet_scenarios import FleetContext, KioskHooks, registered
from kiosk_sim.mqtt_recorder import MessageRecorder
from protocol.messages import ReaderIdentity
from simulators.dukcapil import SimUser, start_dukcapil_sim
from simulators.personas import PERSONAS
from tests.clock import FakeClock
from tests.edge_agent.fakes import FakeCard, FakeFinger, Recorder, card_of
from tests.fleet.conftest import gateway_data
from tests.mqtt.fixtures import DEVICE, OTHER_DEVICE, RESULT_DISPLAY, Certs, agent_config
from tests.privacy.scan import scan_bytes


@pytest.fixture
async def real_gateway(tmp_path: Path, certs: Certs) -> AsyncIterator[RunningGateway]:
    """The real gateway on the Dukcapil simulator (perpus-a's user PERPUS-A)."""
    sim = await start_dukcapil_sim(users=[SimUser("PERPUS-A", "sandi", "perpus-a")])
    data = gateway_data(
        tmp_path,
        certs,
        upstream={"kind": "dukcapil-http", "url": sim.url},
        antiscrape={"device_burst_limit": 100, "burst_limit": 100},
    )
    running = await start_gateway(gateway_config(data, tmp_path))
    yield running
    await running.close()
    await sim.close()


class RealKiosk:
    """An agent in-process on fake card and finger, with its real gateway link."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.card, self.finger = FakeCard(), FakeFinger()
        self.clock, self.screens = FakeClock(), Recorder()
        self.agent = Agent(
            config,
            card=self.card,
            finger=self.finger,
            indicators=None,
            clock=self.clock,
            serve_ui=False,
            env={},
            observers=(self.screens,),
        )

    async def verify(self) -> str:
        """One visit of Ayu: the outcome the kiosk shows."""
        self.card.feed(card_of(PERSONAS["ayu"]))
        self.agent.session.on_card_event(CardEvent(CardEventKind.INSERTED, "slot"))
        await self.screens.expect(ScreenName.FINGER)
        self.finger.feed(MatchResult(True, 120))
        screen = await self.screens.expect(ScreenName.RESULT)
        await self.clock.wait_sleeping(RESULT_DISPLAY)
        self.clock.advance(RESULT_DISPLAY)
        await self.screens.expect(ScreenName.IDLE)
        self.agent.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))
        assert screen.outcome is not None
        return screen.outcome.value

    async def wait_screen(self, name: str, timeout: float) -> bool:
        try:
            await self.screens.expect(ScreenName(name))
        except AssertionError:
            return False
        return True

    async def probe(self) -> str:
        reader = ReaderIdentity(self.config.reader.reader_id, self.config.reader.sam_id)
        return await gateway_lookup(self.config.gateway, self.config.device.id, reader)

    def hooks(self) -> KioskHooks:
        async def nothing() -> None:
            raise AssertionError("not used by these scenarios")

        return KioskHooks(
            device_id=self.config.device.id,
            verify=self.verify,
            begin_verification=nothing,
            end_verification=nothing,
            wait_screen=self.wait_screen,
            stop_agent=nothing,
            start_agent=nothing,
            key_present=self.config.gateway.key_file.exists,
            gateway_probe=self.probe,
        )


@contextlib.asynccontextmanager
async def two_kiosks(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, gateway: RunningGateway, keys: Path
) -> AsyncIterator[tuple[RealKiosk, RealKiosk]]:
    kiosks = []
    for device in (DEVICE, OTHER_DEVICE):
        config = agent_config(tmp_path / device, certs, broker, device)
        config = dataclasses.replace(
            config,
            gateway=dataclasses.replace(config.gateway, url=gateway.url),
            admin=AdminConfig((keys,)),
        )
        kiosks.append(RealKiosk(config))
    async with contextlib.AsyncExitStack() as stack:
        for k in kiosks:
            await k.agent.start()
            stack.push_async_callback(k.agent.stop)
            stack.callback(k.card.release)
            stack.callback(k.finger.release)
            assert k.agent.uplink is not None
            await k.agent.uplink.wait_ready(1, 10.0)
        yield kiosks[0], kiosks[1]


async def test_every_sanction_and_the_bulk_deactivation_through_the_stack(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, real_gateway: RunningGateway
) -> None:
    setup = FleetSetup.create(tmp_path / "fleet", certs.pki, broker, real_gateway.url)
    recorder = MessageRecorder(broker, setup).start()
    async with two_kiosks(tmp_path, certs, broker, real_gateway, setup.public_key) as (a, b):
        assert await a.verify() == "FOUND"
        ctx = FleetContext(broker, setup, a.hooks(), timeout=10.0, others=(b.hooks(),))
        results = [("registered", *(await registered(ctx)))]
        for name, scenario in SANCTION_SCENARIOS:
            expected, got = await scenario(ctx)
            results.append((name, expected, got))
    recorder.stop()
    failed = [r for r in results if r[1] != r[2]]
    assert failed == []

    # the audit trail: one line per kiosk and one for the institution or bulk action
    store = SqliteStore(setup.directory / "fleet.sqlite3")
    try:
        lines = [x.entry for x in store.audit_lines()]
        assert store.sanctions() == []  # every sanction lifted
    finally:
        store.close()
    inst = "institution:perpus-a"
    bulk = [e for e in lines if e.action == "bulk_deactivate"]
    assert [(e.target, e.outcome, e.detail["kiosks"]) for e in bulk] == [(inst, "done", 2)]
    per_kiosk = [e for e in lines if e.action == "deactivate" and e.detail.get("bulk") == inst]
    assert sorted(e.target for e in per_kiosk) == [DEVICE, OTHER_DEVICE]
    assert all(e.outcome == "done" and e.document_sha256 for e in per_kiosk)
    cut = [e for e in lines if e.action == "sanction_set" and e.detail["sanction"] == "network_cut"]
    assert sorted(e.target for e in cut) == [DEVICE, OTHER_DEVICE, inst]
    assert all(e.admin == "fleet-admin" for e in lines)
    needles = {"ayu.nik": PERSONAS["ayu"].nik, "ayu.name": PERSONAS["ayu"].full_name}
    assert scan_bytes(recorder.payloads(), needles) == []
    for path in setup.directory.glob("fleet.sqlite3*"):
        assert scan_bytes(path.read_bytes(), needles) == []
