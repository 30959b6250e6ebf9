"""Telemetry without a broker: when health is published (change, poke, interval), what it holds,
and the usage flush stopping at the first failure. A hand-driven clock; a recording client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from edge_agent.uplink.health import HealthProbes, cert_days_left, disk_free_pct, memory_used_pct
from edge_agent.uplink.mqtt import MqttClient, MqttNotConnected
from edge_agent.uplink.outbox import UsageOutbox
from edge_agent.uplink.statefile import RemoteState
from edge_agent.uplink.telemetry import Telemetry
from protocol.outcomes import Outcome
from protocol.topics import DeviceStatus, parse_health, parse_usage
from tests.clock import FakeClock
from tests.mqtt.fixtures import DEVICE, WAIT, Certs


class RecordingClient:
    """What Telemetry needs of MqttClient; every publication kept."""

    def __init__(self) -> None:
        self.connected = True
        self.conn_id: str | None = "0123456789abcdef"
        self.sent: list[tuple[str, bytes, int, bool]] = []
        self.fail_after: int | None = None
        self.changed = asyncio.Event()

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False, **_: Any
    ) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise MqttNotConnected("gone")
        self.sent.append((topic, payload, qos, retain))
        self.changed.set()

    def health(self) -> list[bytes]:
        return [p for t, p, _, _ in self.sent if t.endswith("/health")]


class Sensor:
    def __init__(self) -> None:
        self.status = DeviceStatus.OK

    def __call__(self) -> DeviceStatus:
        return self.status


def telemetry(tmp_path: Path, client: RecordingClient, clock: FakeClock, **kw: Any) -> Telemetry:
    return Telemetry(
        cast(MqttClient, client),
        DEVICE,
        outbox=UsageOutbox(tmp_path / "usage.sqlite3", "33"),
        probes=kw.pop("probes", HealthProbes()),
        remote_state=kw.pop("remote", lambda: RemoteState()),
        clock=clock,
        wall=lambda: 1767225600.0,
        health_interval=300.0,
        probe_interval=30.0,
        version="0.1.0",
    )


async def rounds(client: RecordingClient, clock: FakeClock, seconds: float, n: int) -> None:
    """Advance the clock `n` times by `seconds`, each time until the loop sleeps again."""
    for _ in range(n):
        await clock.wait_sleeping(30.0)
        clock.advance(seconds)
    await clock.wait_sleeping(30.0)


async def test_health_on_start_on_change_on_poke_and_every_interval(
    tmp_path: Path, certs: Certs
) -> None:
    client, clock, sensor = RecordingClient(), FakeClock(), Sensor()
    t = telemetry(tmp_path, client, clock, probes=HealthProbes(sensor=sensor))
    t.start()
    try:
        await rounds(client, clock, 30.0, 0)
        assert len(client.health()) == 1  # the first round publishes
        await rounds(client, clock, 30.0, 3)
        assert len(client.health()) == 1  # nothing changed, not due
        sensor.status = DeviceStatus.FAULT
        await rounds(client, clock, 30.0, 1)
        assert len(client.health()) == 2
        assert parse_health(client.health()[-1]).sensor is DeviceStatus.FAULT
        t.poke()
        async with asyncio.timeout(WAIT):
            while len(client.health()) < 3:
                client.changed.clear()
                await client.changed.wait()
        await rounds(client, clock, 30.0, 10)  # 300 s after the last one
        assert len(client.health()) == 4
    finally:
        await t.stop()
    seqs = [parse_health(p).seq for p in client.health()]
    assert seqs == [1, 2, 3, 4]  # numbered when published: no gaps
    retained = {(qos, retain) for t_, _, qos, retain in client.sent if t_.endswith("/health")}
    assert retained == {(0, True)}


async def test_a_health_report(tmp_path: Path, certs: Certs) -> None:
    client, clock = RecordingClient(), FakeClock()
    issued = certs.devices[DEVICE]

    async def gateway() -> tuple[bool | None, float | None]:
        return True, 12.5

    probes = HealthProbes(
        reader=lambda: (DeviceStatus.OK, DeviceStatus.MISSING),
        gateway=gateway,
        cert_file=issued.cert,
        disk_path=tmp_path,
    )
    t = telemetry(tmp_path, client, clock, probes=probes, remote=lambda: RemoteState(tampered=True))
    msg = await t.publish_health()
    assert parse_health(client.health()[0]).to_json() == msg.to_json()
    assert (msg.reader, msg.sam, msg.sensor) == (
        DeviceStatus.OK,
        DeviceStatus.MISSING,
        DeviceStatus.UNKNOWN,
    )
    assert msg.tamper and msg.deactivated and msg.gateway_reachable and msg.gateway_rtt_ms == 12.5
    assert msg.cert_days_left == cert_days_left(issued.cert, 1767225600.0)
    assert msg.disk_free_pct is not None and msg.agent == "0.1.0"
    assert len(client.health()[0]) < 400  # bytes per report: see bench/mqtt_traffic.py


def test_machine_probes_never_raise(tmp_path: Path) -> None:
    assert memory_used_pct(tmp_path / "missing") is None
    assert disk_free_pct(tmp_path / "missing") is None
    assert cert_days_left(tmp_path / "missing", 0.0) is None
    garbage = tmp_path / "meminfo"
    garbage.write_text("MemTotal: lots\n")
    assert memory_used_pct(garbage) is None


async def test_usage_flush_stops_at_the_first_failure_and_resumes(tmp_path: Path) -> None:
    client, clock = RecordingClient(), FakeClock()
    t = telemetry(tmp_path, client, clock)
    day = 86400.0
    for i in range(3):
        t.outbox.add(Outcome.FOUND, 1767225600.0 + i * day)
    client.fail_after = 1
    assert await t.flush_usage() == 1
    assert [m.day for m in t.outbox.pending()] == ["2026-01-02", "2026-01-03"]
    client.fail_after = None
    assert await t.flush_usage() == 2
    assert t.outbox.pending() == []
    days = [parse_usage(p).day for tp, p, qos, _ in client.sent if tp.endswith("/usage")]
    assert days == ["2026-01-01", "2026-01-02", "2026-01-03"]
