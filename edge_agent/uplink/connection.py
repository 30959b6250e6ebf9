"""The kiosk's MQTT uplink: one client for telemetry and remote control.

On every connection: online `state` (birth), subscriptions (`desired`, `cmd/+`, and the kiosk's
own `state`), `reported`, pending usage, and a fresh health report. A Last Will of an older
connection that lands after the birth (the broker noticed the old connection late) is seen on
the kiosk's own `state` subscription and answered with a new birth.

`stop()` publishes offline and disconnects cleanly. `report_tamper()` publishes health and
`reported`, then offline with the reason `tamper`, and never connects again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from collections.abc import Awaitable, Callable

from common.clock import Clock
from edge_agent.uplink.enforcer import Enforcer
from edge_agent.uplink.health import HealthProbes
from edge_agent.uplink.mqtt.client import Message, MqttClient
from edge_agent.uplink.mqtt.errors import MqttError
from edge_agent.uplink.mqtt.options import MqttOptions
from edge_agent.uplink.outbox import UsageOutbox
from edge_agent.uplink.remote_control import RemoteChannel, RemoteControl
from edge_agent.uplink.statefile import RemoteState
from edge_agent.uplink.telemetry import Telemetry, lost_will
from protocol.mqtt import AckStatus, PayloadError, Presence, parse_state
from protocol.signed import CommandName

_log = logging.getLogger(__name__)

MAX_REBIRTHS = 3  # per connection: a kiosk fighting a clone of itself must not loop


class Uplink:
    """MQTT client + telemetry + remote channel of one kiosk."""

    def __init__(
        self,
        options: MqttOptions,
        *,
        control: RemoteControl,
        enforcer: Enforcer,
        outbox: UsageOutbox,
        probes: HealthProbes,
        clock: Clock,
        wall: Callable[[], float] = time.time,
        health_interval: float = 300.0,
        probe_interval: float = 30.0,
        on_change: Callable[[RemoteState], None] | None = None,
        rotate: Callable[[], Awaitable[AckStatus]] | None = None,
    ) -> None:
        device = options.client_id
        self.device_id = device
        self._wall = wall
        self.client = MqttClient(
            options,
            will=lambda conn_id: lost_will(device, conn_id, wall()),
            on_connect=self._connected,
            on_message=self._message,
        )
        self.telemetry = Telemetry(
            self.client,
            device,
            outbox=outbox,
            probes=probes,
            remote_state=lambda: control.state,
            clock=clock,
            wall=wall,
            health_interval=health_interval,
            probe_interval=probe_interval,
        )
        self._on_change = on_change
        self.remote = RemoteChannel(
            control,
            enforcer,
            self._publish,
            actions={
                CommandName.PING: self._ping,
                CommandName.REPORT_NOW: self._report_now,
            }
            | ({} if rotate is None else {CommandName.ROTATE_CERTIFICATE: rotate}),
            wall=wall,
            on_change=self._changed,
        )
        self._rebirths = 0
        self._closing = False
        self.ready_count = 0  # connections fully set up
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Connect in the background (retrying) and start the health loop."""
        await self.client.start()
        self.telemetry.start()

    async def stop(self, reason: str = "shutdown") -> None:
        """Publish offline, disconnect cleanly, stop the health loop."""
        self._closing = True
        await self.telemetry.stop()
        conn_id = self.client.conn_id
        final = [self.telemetry.offline(conn_id, reason)] if conn_id else []
        await self.client.stop(final)

    async def report_tamper(self, cause: str) -> None:
        """Report the tamper on the open connection, then go offline for good."""
        self._closing = True
        try:
            await self.telemetry.publish_health()
            await self.remote.publish_reported()
        except MqttError as err:
            _log.warning("tamper not reported over MQTT: %s", err)
        await self.stop(reason="tamper")

    def use_tls(self, ssl_context: ssl.SSLContext) -> None:
        """The next connection to the broker uses `ssl_context` (a renewed identity)."""
        self.client.options = dataclasses.replace(self.client.options, ssl_context=ssl_context)

    def usage_added(self) -> None:
        """A session was counted (OutboxCounter.on_added)."""
        self.telemetry.usage_added()

    async def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        await self.client.publish(topic, payload, qos=qos, retain=retain)

    async def _connected(self, session_present: bool) -> None:
        self._rebirths = 0
        await self.telemetry.publish_birth()
        await self.client.subscribe([*self.remote.subscriptions(), (self.telemetry.state_topic, 1)])
        await self.remote.publish_reported()
        await self.telemetry.flush_usage()
        self.telemetry.poke()
        self.ready_count += 1
        self._ready.set()

    async def wait_ready(self, count: int, timeout: float) -> None:
        """Return once `count` connections in all were set up (TimeoutError otherwise)."""
        async with asyncio.timeout(timeout):
            while self.ready_count < count:
                self._ready.clear()
                await self._ready.wait()

    async def _message(self, message: Message) -> None:
        if message.topic == self.telemetry.state_topic:
            await self._own_state(message.payload)
            return
        if not await self.remote.handle(message):
            _log.debug("message on an unexpected topic ignored")

    async def _own_state(self, payload: bytes) -> None:
        if self._closing or not payload:
            return
        try:
            state = parse_state(payload)
        except PayloadError:
            state = None
        conn_id = self.client.conn_id
        if state is not None and state.status is Presence.ONLINE and state.conn == conn_id:
            return
        if self._rebirths >= MAX_REBIRTHS:
            return
        self._rebirths += 1
        _log.info("retained state is not this connection's birth: publishing it again")
        try:
            await self.telemetry.publish_birth()
        except MqttError as err:
            _log.info("birth not published again: %s", err)

    def _changed(self, state: RemoteState) -> None:
        self.telemetry.poke()
        if self._on_change is not None:
            self._on_change(state)

    async def _ping(self) -> AckStatus:
        return AckStatus.DONE

    async def _report_now(self) -> AckStatus:
        await self.telemetry.publish_health()
        await self.telemetry.flush_usage()
        return AckStatus.DONE
