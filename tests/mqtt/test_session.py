"""Presence and sessions against the real mosquitto: birth, Last Will, clean shutdown, broker
restarts, messages queued for a kiosk that is away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.uplink.mqtt import Message, MqttClient
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel, Presence, parse_state, topic
from tests.mqtt.fixtures import (
    DEVICE,
    WAIT,
    AgentProcess,
    Certs,
    agent_config,
    client_options,
    running_kiosk,
    write_agent_toml,
)

STATE = topic(DEVICE, Channel.STATE)


def state_is(status: Presence, conn: str | None = None) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        if m.topic != STATE or not m.payload:
            return False
        s = parse_state(m.payload)
        return s.status is status and (conn is None or s.conn == conn)

    return match


async def test_a_killed_agent_is_lost_within_seconds(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    w = await watch([(STATE, 1)])
    child = await AgentProcess(write_agent_toml(tmp_path / "agent", certs, broker)).start()
    try:
        await w.wait_for(state_is(Presence.ONLINE, child.conn_id))
        t0 = time.monotonic()
        await child.kill()
        lost = await w.wait_for(state_is(Presence.LOST, child.conn_id), timeout=5.0)
    finally:
        await child.kill()
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0
    assert lost.retain is False  # a live will; and it stays retained for later subscribers:
    late = await watch([(STATE, 1)], client_id="late-watcher")
    retained = await late.wait_for(state_is(Presence.LOST, child.conn_id))
    assert retained.retain


async def test_a_stopped_agent_is_offline_not_lost(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    w = await watch([(STATE, 1)])
    child = await AgentProcess(write_agent_toml(tmp_path / "agent", certs, broker)).start()
    try:
        await w.wait_for(state_is(Presence.ONLINE, child.conn_id))
        assert await child.terminate() == 0
    finally:
        await child.kill()
    offline = await w.wait_for(state_is(Presence.OFFLINE, child.conn_id))
    assert parse_state(offline.payload).reason == "shutdown"
    late = await watch([(STATE, 1)], client_id="late-watcher")
    await late.wait_for(state_is(Presence.OFFLINE, child.conn_id))  # no will came after it


async def test_messages_wait_in_the_session_across_a_broker_restart(
    certs: Certs, broker: MosquittoBroker
) -> None:
    """A message for a kiosk that is away waits in its session, also across a broker restart
    (clean start off + session expiry + broker persistence)."""
    received: list[Message] = []

    async def on_message(message: Message) -> None:
        received.append(message)

    async def subscribe(session_present: bool) -> None:
        await kiosk.subscribe([(f"kiosk/v1/{DEVICE}/cmd/+", 1)])

    options = client_options(broker.port, DEVICE, certs.devices[DEVICE], certs)
    kiosk = MqttClient(options, on_connect=subscribe, on_message=on_message)
    await kiosk.start()
    await kiosk.wait_connected(WAIT)
    await kiosk.stop()  # away, session kept

    admin = MqttClient(client_options(broker.admin_port, "adm", certs.admin, certs))
    await admin.start()
    await admin.wait_connected(WAIT)
    await admin.publish(f"kiosk/v1/{DEVICE}/cmd/{'a' * 32}", b"queued", qos=1)
    await admin.stop()
    broker.restart()

    got: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    async def first(message: Message) -> None:
        if not got.done():
            got.set_result(message)

    kiosk = MqttClient(options, on_message=first)  # no subscription: the session has it
    await kiosk.start()
    async with asyncio.timeout(WAIT):
        message = await got
    assert message.payload == b"queued" and kiosk.stats.connects == 1
    await kiosk.stop()


async def test_the_agent_reconnects_after_a_broker_restart(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    w = await watch([(STATE, 1)])
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        uplink = kiosk.agent.uplink
        assert uplink is not None
        first = uplink.client.conn_id
        broker.restart()
        await kiosk.ready(2)
        assert uplink.client.conn_id != first
        await w.wait_for(state_is(Presence.ONLINE, uplink.client.conn_id))


async def test_a_stale_will_is_answered_with_a_new_birth(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    """If the broker publishes an old connection's will after the new birth, the kiosk sees it
    on its own state topic and publishes its birth again."""
    w = await watch([(STATE, 1)])
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        uplink = kiosk.agent.uplink
        assert uplink is not None
        conn = uplink.client.conn_id
        await w.wait_for(state_is(Presence.ONLINE, conn))
        start = len(w.messages)
        stale = b'{"conn":"00000000deadbeef","status":"lost","ts":1,"v":1}'
        await uplink.client.publish(STATE, stale, qos=1, retain=True)  # as the broker would
        await w.wait_for(state_is(Presence.ONLINE, conn), start=start + 1)
    late = await watch([(STATE, 1)], client_id="late-watcher")
    await late.wait_for(state_is(Presence.OFFLINE, conn))
