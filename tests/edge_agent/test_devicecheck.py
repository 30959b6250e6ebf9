"""The agent refuses to pretend: no READY while a configured device is missing (pcscd down, no
reader, no SAM, the fingerprint port silent, the MCU silent); its health names which; READY
follows once every device answers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_agent.hygiene import Notifier
from edge_agent.uplink.health import HealthProbes
from edge_agent.wiring.app import Agent
from edge_agent.wiring.devicecheck import DeviceCheck, mcu_missing, sensor_missing
from hardware.fingerprint.errors import SensorTimeoutError
from protocol.mqtt.health import DeviceStatus, HealthMessage, parse_health
from tests.clock import FakeClock
from tests.edge_agent.certs import Pki, make_pki
from tests.edge_agent.fake_gateway import FakeGateway, start_gateway
from tests.edge_agent.fakes import FakeCard, FakeFinger
from tests.edge_agent.test_app import _config


@pytest.fixture
def notify(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    return sock


async def _recv(sock: socket.socket) -> bytes:
    async with asyncio.timeout(5):
        return await asyncio.get_running_loop().sock_recv(sock, 4096)


class SilentFinger(FakeFinger):
    """A fingerprint module whose port says nothing until `answer` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()

    def read_system_parameters(self) -> object:
        if not self.answer.is_set():
            raise SensorTimeoutError("the module did not answer")
        return object()


async def test_not_ready_while_the_sensor_is_silent_then_ready(
    tmp_path: Path, notify: socket.socket
) -> None:
    pki: Pki = make_pki(tmp_path / "pki")
    fake: FakeGateway
    fake, runner = await start_gateway(pki.server_context())
    finger, clock = SilentFinger(), FakeClock()
    agent = Agent(
        _config(pki, fake.port),
        card=FakeCard(),
        finger=finger,
        clock=clock,
        env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
        serve_ui=False,
    )
    try:
        await agent.start()
        assert await _recv(notify) == b"STATUS=waiting for: sensor"
        assert agent.devices is not None and agent.devices.missing == ("sensor",)
        assert not agent.devices.ready.is_set()
        clock.advance(5.0)  # checked again: still silent, still no READY
        await clock.wait_sleeping(5.0)
        assert not agent.devices.ready.is_set()
        finger.answer.set()
        clock.advance(5.0)
        assert (await _recv(notify)).startswith(b"READY=1\nSTATUS=ready in ")
        assert not agent.devices.missing
    finally:
        await agent.stop()
        fake.release.set()
        await runner.cleanup()


async def test_every_kind_of_missing_device_is_named(tmp_path: Path) -> None:
    up = threading.Event()
    finger = SilentFinger()
    probes = [
        ("pcscd", lambda: ("reader", "sam")),
        ("sensor", sensor_missing(finger)),
        ("mcu", mcu_missing(up.is_set)),
    ]
    health = HealthProbes()
    check = DeviceCheck(probes, FakeClock())  # type: ignore[arg-type]
    health.missing = lambda: check.missing
    assert await check.refresh() == ("reader", "sam", "sensor", "mcu")
    assert (await health.snapshot(0.0)).missing == ("reader", "sam", "sensor", "mcu")
    up.set()
    finger.answer.set()
    assert await check.refresh() == ("reader", "sam")
    assert sensor_missing(object()) is None  # a fake that cannot be asked counts as present


async def test_a_hung_probe_names_its_device(tmp_path: Path) -> None:
    gate = threading.Event()

    def hangs() -> tuple[str, ...]:
        gate.wait(10)
        return ()

    check = DeviceCheck([("mcu", hangs)], FakeClock())
    import edge_agent.wiring.devicecheck as devicecheck

    old = devicecheck._PROBE_TIMEOUT
    devicecheck._PROBE_TIMEOUT = 0.05
    try:
        assert await check.refresh() == ("mcu",)
    finally:
        devicecheck._PROBE_TIMEOUT = old
        gate.set()


async def test_a_notifier_status_is_not_ready(tmp_path: Path, notify: socket.socket) -> None:
    notifier = Notifier(FakeClock(), {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    check = DeviceCheck([("pcscd", lambda: ("pcscd",))], FakeClock())
    await check.announce(notifier, "kiosk-1", 0.01)
    try:
        assert await _recv(notify) == b"STATUS=waiting for: pcscd"
    finally:
        await check.stop()


def test_pcscd_down_is_named() -> None:
    """libpcsclite binds one pcscd per process: ask from a child whose socket leads nowhere."""
    code = (
        "from edge_agent.wiring.devicecheck import pcsc_missing;"
        "print(list(pcsc_missing('Virtual PCD 00 00', 'Virtual PCD 00 01')()))"
    )
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert json.loads(done.stdout.replace("'", '"')) == ["pcscd"], done.stderr


def test_health_carries_the_missing_devices() -> None:
    msg = HealthMessage(
        seq=1,
        ts=2,
        reader=DeviceStatus.MISSING,
        sam=DeviceStatus.MISSING,
        sensor=DeviceStatus.OK,
        tamper=False,
        deactivated=False,
        gateway_reachable=None,
        gateway_rtt_ms=None,
        cert_days_left=None,
        cpu_temp_c=None,
        mem_used_pct=None,
        disk_free_pct=None,
        uptime_s=3,
        agent="1.0.0",
        missing_devices=("pcscd", "reader"),
    )
    doc = msg.to_json()
    assert doc["missing"] == ["pcscd", "reader"]
    assert parse_health(json.dumps(doc).encode()) == msg
    assert not msg.same_condition(dataclasses.replace(msg, missing_devices=()))
    bad = {**doc, "missing": ["toaster"]}
    with pytest.raises(ValueError):
        parse_health(json.dumps(bad).encode())
