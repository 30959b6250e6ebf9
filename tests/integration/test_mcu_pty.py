"""The real supervisor driver (pyserial) against the real firmware, run by the MCU simulator
behind a real pty: watchdog power cycles, tamper reports, the authenticated clear."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from edge_agent.wiring.heartbeat import heartbeat_loop
from hardware.supervisor import (
    McuPattern,
    NakReason,
    SupervisorLink,
    SupervisorPortError,
    SupervisorRefusedError,
    SupervisorTimeoutError,
    TamperCause,
    TamperClearRefusedError,
    TamperReport,
    clear_payload,
    open_port,
)
from simulators.mcu import McuSim

KEY = bytes(range(32))
# N = 100 ms, M = 3, T = 200 ms; a powered-up Pi gets 1.5 s for its first heartbeat.
FAST = {
    "heartbeat_ms": 100,
    "misses": 3,
    "relay_off_ms": 200,
    "boot_grace_ms": 1500,
    "report_ms": 200,
}
HEARTBEAT_EVERY = 0.05  # the agent's period: half of N, so scheduling jitter never counts as a miss
WAIT = 10.0


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[McuSim]:
    with McuSim(tmp_path, settings=FAST, key=KEY) as simulator:
        yield simulator


@pytest.fixture
def port(sim: McuSim) -> Iterator[serial.Serial]:
    opened = open_port(sim.port_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def link(port: serial.Serial) -> Iterator[SupervisorLink]:
    with SupervisorLink(port, response_timeout=1.0) as driver:
        yield driver


async def _heartbeats_until_acked(link: SupervisorLink, count: int) -> None:
    """Run the agent's heartbeat loop until `count` more heartbeats are acknowledged."""
    target = link.heartbeats_acked + count
    stop = asyncio.Event()
    task = asyncio.create_task(heartbeat_loop(link, HEARTBEAT_EVERY, stop))
    try:
        assert await asyncio.to_thread(link.wait_heartbeats_acked, target, WAIT)
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


async def test_hung_agent_gets_exactly_one_power_cycle(sim: McuSim, link: SupervisorLink) -> None:
    await asyncio.to_thread(link.hello)
    # 40 heartbeats at 50 ms: about 2 s, more than six M * N windows
    await _heartbeats_until_acked(link, 40)
    assert sim.stats().power_cuts == 0

    # The agent hangs: no heartbeat any more. The MCU cuts the power, then restores it.
    assert await asyncio.to_thread(sim.wait_for, lambda s: s.power_restores >= 1, WAIT)
    stats = sim.stats()
    assert (stats.power_cuts, stats.power_restores) == (1, 1)

    # The Pi is back and its agent heartbeats again: no second cycle.
    await _heartbeats_until_acked(link, 40)
    status = await asyncio.to_thread(link.request_status)
    assert status.reset_count == 1
    assert sim.stats().power_cuts == 1
    assert sim.stats().count("power_cut") == 1
    assert link.health().reset_count == 1


def test_tamper_while_the_link_is_down_is_reported_on_reconnect(sim: McuSim) -> None:
    with open_port(sim.port_path) as first, SupervisorLink(first) as agent:
        assert not agent.hello().tamper_latched
    # the agent is gone; the MCU notices the silence, then the enclosure is opened and shut
    assert sim.wait_event("link_down", WAIT)
    sim.open_enclosure()
    assert sim.wait_event("tamper", WAIT)
    sim.close_enclosure()

    reports: queue.Queue[TamperReport] = queue.Queue()
    with open_port(sim.port_path) as second, SupervisorLink(second, on_tamper=reports.put) as agent:
        status = agent.hello()
        assert status.tamper_latched and status.tamper_causes == TamperCause.ENCLOSURE
        report = reports.get(timeout=WAIT)
        assert report == TamperReport(TamperCause.ENCLOSURE, status.tamper_seq)
        health = agent.health()
        assert health.link_up and health.tamper_latched
        assert health.as_dict()["tamper_causes"] == ["enclosure"]


def test_latch_survives_an_mcu_restart_and_only_an_authentic_clear_releases_it(
    sim: McuSim,
) -> None:
    sim.expose_light_sensor()
    assert sim.wait_event("tamper", WAIT)
    sim.cover_light_sensor()
    sim.restart()
    assert sim.stats().mcu_starts == 2

    with open_port(sim.port_path) as port, SupervisorLink(port) as agent:
        status = agent.hello()
        assert status.tamper_latched and status.tamper_causes == TamperCause.LIGHT

        with pytest.raises(TamperClearRefusedError) as forged:
            agent.clear_tamper(bytes(32))
        assert forged.value.reason is NakReason.AUTH_FAILED

        payload = clear_payload(KEY, status.clear_counter + 1, status.tamper_seq)
        agent.send_clear(payload)
        assert not agent.request_status().tamper_latched
        assert not agent.health().tamper_latched

        with pytest.raises(TamperClearRefusedError) as replayed:
            agent.send_clear(payload)
        assert replayed.value.reason is NakReason.REPLAYED


def test_patterns_buzzer_and_key_provisioning(tmp_path: Path) -> None:
    with (
        McuSim(tmp_path, settings=FAST) as sim,
        open_port(sim.port_path) as port,
        SupervisorLink(port) as agent,
    ):
        assert not agent.hello().key_set
        agent.set_pattern(McuPattern.BUSY)
        agent.buzzer(50)
        assert agent.request_status().pattern is McuPattern.BUSY
        agent.set_pattern("success")
        assert agent.request_status().pattern is McuPattern.SUCCESS
        with pytest.raises(ValueError):
            agent.set_pattern("disco")
        agent.provision_key(KEY)
        assert agent.request_status().key_set
        with pytest.raises(SupervisorRefusedError) as again:
            agent.provision_key(bytes(32))
        assert again.value.reason is NakReason.KEY_ALREADY_SET


def test_cut_heartbeat_times_out_requests_and_the_power_cycle_restarts_the_pi(
    tmp_path: Path,
) -> None:
    restarts: list[str] = []
    with McuSim(
        tmp_path,
        settings=FAST,
        on_power_off=lambda: restarts.append("off"),
        on_power_on=lambda: restarts.append("on"),
    ) as sim:
        with open_port(sim.port_path) as port, SupervisorLink(port, response_timeout=0.3) as agent:
            agent.hello()
            sim.cut_heartbeat()
            with pytest.raises(SupervisorTimeoutError):
                agent.send_heartbeat()
        assert sim.wait_for(lambda s: s.power_restores >= 1, WAIT)
        assert restarts == ["off", "on"]
        # the reboot ended the hang: the MCU hears the agent again
        with open_port(sim.port_path) as port, SupervisorLink(port) as agent:
            assert agent.hello().reset_count == 1


def test_link_state_follows_the_injected_clock(sim: McuSim, port: serial.Serial) -> None:
    now = [0.0]
    with SupervisorLink(port, link_timeout=5.0, clock=lambda: now[0]) as agent:
        assert not agent.link_up
        agent.send_heartbeat()
        assert agent.link_up
        now[0] += 5.0
        assert not agent.link_up
        assert agent.health().last_seen_s == 5.0


def test_vanished_port_is_a_port_error(sim: McuSim, port: serial.Serial) -> None:
    with SupervisorLink(port) as agent:
        agent.hello()
        sim.close()
        with pytest.raises(SupervisorPortError):
            agent.request_status()


def test_stuck_firmware_is_reset_by_its_hardware_watchdog(tmp_path: Path) -> None:
    with McuSim(tmp_path, settings={**FAST, "wdt_ms": 1000}, key=KEY) as sim:
        sim.open_enclosure()
        assert sim.wait_event("tamper", WAIT)
        sim.hang_mcu()
        assert sim.wait_for(lambda s: s.mcu_starts >= 2, WAIT)
        stats = sim.stats()
        assert stats.watchdog_resets == 1
        assert stats.count("mcu_watchdog_reset") == 1
        assert stats.count("latched") == 1  # the latch came back from flash
        with open_port(sim.port_path) as port, SupervisorLink(port) as agent:
            assert agent.hello().tamper_latched


def test_the_mcu_reports_its_board_id(tmp_path: Path) -> None:
    with (
        McuSim(tmp_path, settings=FAST, board_id=bytes.fromhex("0102030405060708")) as sim,
        open_port(sim.port_path) as port,
        SupervisorLink(port, response_timeout=2.0) as driver,
    ):
        identity = driver.read_identity()
    assert identity.board_id == "0102030405060708"
    assert identity.protocol_version == 1
