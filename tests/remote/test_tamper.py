"""Tamper response: the enclosure switch (simulated GPIO) and the supervisor MCU (the real
firmware behind a pty) deactivate the kiosk at once, destroy its key, and report it."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.config import AgentConfig, SupervisorConfig
from edge_agent.session.screens import ScreenName
from edge_agent.uplink.mqtt import Message
from edge_agent.uplink.tamper import FileKeyDestroyer, destroy_file
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel, Presence, parse_health, parse_reported, parse_state, topic
from protocol.outcomes import Outcome
from simulators.gpio import Enclosure, mock_factory
from simulators.mcu import McuSim
from tests.mqtt.fixtures import DEVICE, Certs, agent_config, running_kiosk

STATE = topic(DEVICE, Channel.STATE)


def own_key(config: AgentConfig, folder: Path) -> AgentConfig:
    """The config with a copy of the device's key and certificate (the test destroys it)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = Path(shutil.copy(config.gateway.key_file, folder / "device.key"))
    cert = Path(shutil.copy(config.gateway.cert_file, folder / "device.pem"))
    gateway = dataclasses.replace(config.gateway, key_file=key, cert_file=cert)
    return dataclasses.replace(config, gateway=gateway)


def test_destroying_a_key_file_overwrites_it_in_place(tmp_path: Path) -> None:
    key = tmp_path / "device.key"
    secret = b"-----BEGIN PRIVATE KEY-----\n" + b"k" * 200 + b"\n-----END PRIVATE KEY-----\n"
    key.write_bytes(secret)
    os.link(key, tmp_path / "second-name")  # sees the same blocks after the unlink
    destroy_file(key)
    assert not key.exists()
    left = (tmp_path / "second-name").read_bytes()
    assert len(left) == len(secret) and left != secret and b"PRIVATE KEY" not in left
    assert FileKeyDestroyer([key, key]).destroy() == []  # gone already: nothing to do


def tampered_report(m: Message) -> bool:
    return m.topic.endswith("/reported") and parse_reported(m.payload).tampered


async def test_the_enclosure_switch(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    w = await watch()
    config = own_key(agent_config(tmp_path / "state", certs, broker), tmp_path / "keys")
    factory = mock_factory()
    enclosure = Enclosure(factory)  # shut
    async with running_kiosk(config, tamper_pin_factory=factory) as kiosk:
        await kiosk.ready()
        assert kiosk.agent.fleet is not None
        await kiosk.begin_query()  # a citizen is at the kiosk
        enclosure.open()  # gpiozero's thread reports it
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
        assert kiosk.agent.counter.get(Outcome.DEVICE_DEACTIVATED) == 1
        assert kiosk.leds[-1] == "tamper"
        assert not config.gateway.key_file.exists()
        await w.wait_for(tampered_report)
        health = await w.wait_for(
            lambda m: m.topic.endswith("/health") and b'"tamper":true' in m.payload
        )
        assert parse_health(health.payload).deactivated
        offline = await w.wait_for(
            lambda m: m.topic == STATE and parse_state(m.payload).status is Presence.OFFLINE
        )
        assert parse_state(offline.payload).reason == "tamper"
        enclosure.close()  # shutting it again changes nothing: the latch holds
        assert kiosk.agent.session.deactivated
    state = json.loads((tmp_path / "state" / "remote-state.json").read_text())
    assert state["tampered"] and state["tamper_cause"] == "enclosure"
    # after a restart: still deactivated, no key, no connection, and nothing crashes
    async with running_kiosk(config, tamper_pin_factory=factory) as kiosk:
        assert kiosk.agent.session.deactivated and kiosk.agent.uplink is None


async def test_an_enclosure_open_at_start_is_a_tamper(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker
) -> None:
    config = own_key(agent_config(tmp_path / "state", certs, broker), tmp_path / "keys")
    factory = mock_factory()
    Enclosure(factory).cut_wire()
    async with running_kiosk(config, tamper_pin_factory=factory) as kiosk:
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
        assert not config.gateway.key_file.exists()


async def test_the_supervisor_mcu_reports_a_tamper(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    w = await watch()
    config = own_key(agent_config(tmp_path / "state", certs, broker), tmp_path / "keys")
    with McuSim(tmp_path / "mcu") as mcu:
        config = dataclasses.replace(
            config, supervisor=SupervisorConfig(port=mcu.port_path, heartbeat_interval=0.5)
        )
        async with running_kiosk(config) as kiosk:
            await kiosk.ready()
            mcu.open_enclosure()
            await kiosk.screens.expect(ScreenName.DEACTIVATED)
            assert not config.gateway.key_file.exists()
            got = await w.wait_for(tampered_report)
            assert parse_reported(got.payload).deactivated
    state = json.loads((tmp_path / "state" / "remote-state.json").read_text())
    assert state["tamper_cause"] == "mcu_enclosure"
