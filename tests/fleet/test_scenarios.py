"""The fleet scenarios of `kiosk-sim demo`, run here against the agent in-process on fake devices
(the stack runs them against the agent process on simulated devices): each one passes."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.config import AdminConfig, AgentConfig
from edge_agent.session.screens import ScreenName
from gateway.server import RunningGateway
from hardware.card.reader import CardEvent, CardEventKind
from kiosk_sim.alert_inbox import AlertInbox
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.fleet_scenarios import SCENARIOS, FleetContext, KioskHooks
from kiosk_sim.fleet_seen import ServiceHooks, tamper_alerted, usage_stored_across_outages
from kiosk_sim.fleet_service import FleetServiceProcess
from kiosk_sim.mqtt_recorder import MessageRecorder
from simulators.gpio import Enclosure, mock_factory
from simulators.personas import PERSONAS
from tests.mqtt.fixtures import DEVICE, Certs, Kiosk, agent_config, running_kiosk
from tests.privacy.scan import scan_bytes


class Holder:
    """The kiosk in-process, restartable, with its enclosure and the admin side."""

    def __init__(self, config: AgentConfig, setup: FleetSetup, alerts: AlertInbox) -> None:
        self.config = config
        self.setup = setup
        self.alerts = alerts  # the admins' webhook of a fleet service run on `setup`
        self.factory = mock_factory()
        self.enclosure = Enclosure(self.factory)
        self.kiosk: Kiosk | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self.kiosk = await self._stack.enter_async_context(
            running_kiosk(self.config, tamper_pin_factory=self.factory)
        )
        if self.kiosk.agent.uplink is not None:
            await self.kiosk.ready()

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self.kiosk = None

    def now(self) -> Kiosk:
        assert self.kiosk is not None
        return self.kiosk


@pytest.fixture
async def holder(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, gateway: RunningGateway
) -> AsyncIterator[Holder]:
    alerts = await AlertInbox().start()
    setup = FleetSetup.create(
        tmp_path / "fleet", certs.pki, broker, gateway.url, webhook_url=alerts.url
    )
    keys = tmp_path / "keys"
    keys.mkdir()
    config = agent_config(tmp_path / "state", certs, broker)
    key = Path(shutil.copy(config.gateway.key_file, keys / "device.key"))
    config = dataclasses.replace(
        config,
        gateway=dataclasses.replace(config.gateway, key_file=key),
        admin=AdminConfig((setup.public_key,)),
    )
    h = Holder(config, setup, alerts)
    await h.start()
    yield h
    await h.stop()
    await alerts.stop()


def _hooks(holder: Holder) -> KioskHooks:
    async def verify() -> str:
        return (await holder.now().verify()).value

    async def begin() -> None:
        await holder.now().begin()

    async def end() -> None:
        holder.now().agent.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))

    async def wait_screen(name: str, timeout: float) -> bool:
        try:
            await holder.now().screens.expect(ScreenName(name))
        except AssertionError:
            return False
        return True

    return KioskHooks(
        device_id=DEVICE,
        verify=verify,
        begin_verification=begin,
        end_verification=end,
        wait_screen=wait_screen,
        stop_agent=holder.stop,
        start_agent=holder.start,
        key_present=holder.config.gateway.key_file.exists,
        open_enclosure=holder.enclosure.open,
    )


async def test_the_fleet_scenarios(broker: MosquittoBroker, holder: Holder) -> None:
    recorder = MessageRecorder(broker, holder.setup).start()
    ctx = FleetContext(broker, holder.setup, _hooks(holder), timeout=10.0)
    results = []
    for name, scenario in SCENARIOS:
        expected, got = await scenario(ctx)
        results.append((name, expected, got))
    recorder.stop()
    failed = [r for r in results if r[1] != r[2]]
    assert failed == []
    needles = {"ayu.nik": PERSONAS["ayu"].nik, "ayu.name": PERSONAS["ayu"].full_name}
    assert recorder.count() > 10 and scan_bytes(recorder.payloads(), needles) == []


async def test_what_the_fleet_service_saw(
    tmp_path: Path, broker: MosquittoBroker, holder: Holder
) -> None:
    """Usage stored = verifications across a broker and a service outage; the tamper alert at
    the admins' webhook in 2 s."""
    service = FleetServiceProcess(holder.setup.fleet_config, tmp_path / "fleet-service.log")
    await service.start()
    try:
        store = holder.setup.directory / "fleet.sqlite3"
        hooks = ServiceHooks(store, holder.alerts, service.stop, service.start)
        ctx = FleetContext(broker, holder.setup, _hooks(holder), timeout=10.0, service=hooks)
        for scenario in (usage_stored_across_outages, tamper_alerted):
            expected, got = await scenario(ctx)
            assert got == expected
    finally:
        await service.stop()
