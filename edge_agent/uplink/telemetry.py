"""Telemetry publishers: retained `state` (birth, Last Will, offline), `health`, `usage`.

- `state`: online with the connection id on every connection; the Last Will of that connection
  says lost with the same id, so a consumer can drop a will that belongs to an older connection.
- `health`: probed every `probe_interval`, published when something an admin acts on changed
  (a device, tamper, deactivation, the gateway), when poked, and at least every
  `health_interval`. Retained, QoS 0: only the latest matters.
- `usage`: the outbox's pending days, QoS 1; a day is marked sent only on the broker's PUBACK.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable

from common.clock import Clock
from common.tasks import cancel_and_wait
from edge_agent.uplink.health import HealthProbes
from edge_agent.uplink.mqtt.client import MqttClient
from edge_agent.uplink.mqtt.errors import MqttError
from edge_agent.uplink.mqtt.options import Will
from edge_agent.uplink.outbox import UsageOutbox
from edge_agent.uplink.statefile import RemoteState
from protocol.mqtt import (
    Channel,
    HealthMessage,
    Presence,
    StateMessage,
    encode,
    topic,
)

_log = logging.getLogger(__name__)


def agent_version() -> str:
    """The installed version of the kiosk software."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("platform-bersama-kiosk")
    except PackageNotFoundError:
        return "0.0.0"


def lost_will(device_id: str, conn_id: str, wall: float) -> Will:
    """The Last Will of one connection: state lost, with the connection's id."""
    msg = StateMessage(Presence.LOST, conn_id, int(wall))
    return Will(topic(device_id, Channel.STATE), encode(msg.to_json()), qos=1, retain=True)


class Telemetry:
    """Publishes state, health and usage through `client`."""

    def __init__(
        self,
        client: MqttClient,
        device_id: str,
        *,
        outbox: UsageOutbox,
        probes: HealthProbes,
        remote_state: Callable[[], RemoteState],
        clock: Clock,
        wall: Callable[[], float] = time.time,
        health_interval: float = 300.0,
        probe_interval: float = 30.0,
        version: str | None = None,
    ) -> None:
        self.client = client
        self.device_id = device_id
        self.outbox = outbox
        self._probes = probes
        self._remote_state = remote_state
        self._clock = clock
        self._wall = wall
        self._health_interval = health_interval
        self._probe_interval = probe_interval
        self.version = version or agent_version()
        self.state_topic = topic(device_id, Channel.STATE)
        self.health_topic = topic(device_id, Channel.HEALTH)
        self.usage_topic = topic(device_id, Channel.USAGE)
        self._started = clock.monotonic()
        self._poke = asyncio.Event()
        self._force = False
        self._last_health: HealthMessage | None = None
        self._last_health_at: float | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[int] | None = None
        self._flush_lock = asyncio.Lock()
        self.storage_ok: Callable[[], bool] | None = None  # the state folder can be written
        self.clock_offset: Callable[[], float | None] | None = None  # against the gateway

    # --- state -----------------------------------------------------------------------------

    def birth(self, conn_id: str) -> bytes:
        """The `state` payload of a new connection."""
        msg = StateMessage(Presence.ONLINE, conn_id, int(self._wall()), self.version)
        return encode(msg.to_json())

    def offline(self, conn_id: str, reason: str) -> tuple[str, bytes, int, bool]:
        """The `state` message of a clean shutdown (the client's `final` publication)."""
        msg = StateMessage(Presence.OFFLINE, conn_id, int(self._wall()), reason=reason)
        return (self.state_topic, encode(msg.to_json()), 1, True)

    async def publish_birth(self) -> None:
        """Publish online with the current connection id (QoS 1, retained)."""
        conn_id = self.client.conn_id
        if conn_id is not None:
            await self.client.publish(self.state_topic, self.birth(conn_id), qos=1, retain=True)

    # --- health ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the health loop."""
        if self._health_task is None:
            self._health_task = asyncio.get_running_loop().create_task(
                self._health_loop(), name="telemetry-health"
            )

    async def stop(self) -> None:
        """Stop the health loop and any usage flush."""
        await cancel_and_wait(self._health_task)
        await cancel_and_wait(self._flush_task)
        self._health_task = self._flush_task = None
        await self._probes.close()

    def poke(self) -> None:
        """Publish a health report now (something changed, or a command asked for one)."""
        self._force = True
        self._poke.set()

    async def publish_health(self) -> HealthMessage:
        """Probe and publish one health report (retained, QoS 0)."""
        return await self._publish_health(await self.collect_health())

    async def _publish_health(self, msg: HealthMessage) -> HealthMessage:
        try:
            seq = self.outbox.next_health_seq()
        except sqlite3.Error:  # the folder cannot be written: the report says so, in order
            seq = (self._last_health.seq if self._last_health else 0) + 1
        msg = dataclasses.replace(msg, seq=seq)
        await self.client.publish(self.health_topic, encode(msg.to_json()), qos=0, retain=True)
        self._last_health = msg
        self._last_health_at = self._clock.monotonic()
        return msg

    async def collect_health(self) -> HealthMessage:
        """One health report (not published; its sequence number is set when it is)."""
        now = self._wall()
        snap = await self._probes.snapshot(now)
        remote = self._remote_state()
        return HealthMessage(
            seq=0,
            ts=int(now),
            reader=snap.reader,
            sam=snap.sam,
            sensor=snap.sensor,
            tamper=remote.tampered,
            deactivated=remote.refuses_sessions,
            gateway_reachable=snap.gateway_reachable,
            gateway_rtt_ms=snap.gateway_rtt_ms,
            cert_days_left=snap.cert_days_left,
            cpu_temp_c=snap.cpu_temp_c,
            mem_used_pct=snap.mem_used_pct,
            disk_free_pct=snap.disk_free_pct,
            uptime_s=int(self._clock.monotonic() - self._started),
            agent=self.version,
            mcu_link_up=None if snap.mcu is None else snap.mcu[0],
            mcu_resets=None if snap.mcu is None else snap.mcu[1],
            mcu_tamper_latched=None if snap.mcu is None else snap.mcu[2],
            storage_ok=None if self.storage_ok is None else self.storage_ok(),
            clock_offset_s=self._clock_offset(),
            missing_devices=snap.missing,
        )

    def _clock_offset(self) -> int | None:
        offset = self.clock_offset() if self.clock_offset is not None else None
        return None if offset is None else round(offset)

    async def _health_loop(self) -> None:
        while True:
            if self.client.connected:
                try:
                    await self._health_round()
                except MqttError as err:
                    _log.info("health report not published: %s", err)
            self._poke.clear()
            sleeper = asyncio.ensure_future(self._clock.sleep(self._probe_interval))
            poked = asyncio.ensure_future(self._poke.wait())
            try:
                await asyncio.wait({sleeper, poked}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                poked.cancel()

    async def _health_round(self) -> None:
        force, self._force = self._force, False
        due = (
            self._last_health_at is None
            or self._clock.monotonic() - self._last_health_at >= self._health_interval
        )
        msg = await self.collect_health()
        if force or due or not msg.same_condition(self._last_health):
            await self._publish_health(msg)

    # --- usage -----------------------------------------------------------------------------

    def usage_added(self) -> None:
        """A count went into the outbox: publish it (if connected; else on the next connect)."""
        if not self.client.connected:
            return
        if self._flush_task is not None and not self._flush_task.done():
            return  # the running flush sees the new count before it ends
        self._flush_task = asyncio.get_running_loop().create_task(
            self.flush_usage(), name="telemetry-usage"
        )

    async def flush_usage(self) -> int:
        """Publish every pending day (QoS 1); mark each sent on its PUBACK. Messages sent."""
        sent = 0
        async with self._flush_lock:  # one flush at a time: no report goes out twice
            while pending := self.outbox.pending():  # counts added meanwhile are seen here
                for report in pending:
                    try:
                        await self.client.publish(
                            self.usage_topic, encode(report.to_json()), qos=1, retain=False
                        )
                    except MqttError as err:
                        _log.info("usage of %s kept in the outbox: %s", report.day, err)
                        return sent
                    try:
                        self.outbox.mark_sent(report.day, report.seq)
                    except sqlite3.Error as err:  # sent again later: the consumer keeps one
                        _log.info("usage of %s sent, not marked: %s", report.day, err)
                        return sent
                    sent += 1
        return sent
