"""The broker's TLS and ACL, proven against the real mosquitto: every kiosk only in its tree
(per subtopic, with mosquitto's own clients: test_broker_clients.py).

mosquitto's acl_file answers every SUBSCRIBE with "granted" and filters on delivery instead
(checked on Debian's 2.0.11): so "cannot subscribe outside its tree" is proven by what a
subscription delivers, retained and live: nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from edge_agent.uplink.mqtt import Message, MqttClient, MqttOptions, MqttRefused
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel, command_topic, topic
from tests.mqtt.fixtures import DEVICE, OTHER_DEVICE, WAIT, Certs, Watcher, client_options

NOT_AUTHORIZED = 0x87


@pytest.fixture
async def kiosks(broker: MosquittoBroker, certs: Certs) -> AsyncIterator[Callable[..., Any]]:
    """kiosk(device, filters) -> a connected device client recording what it receives."""
    made: list[Watcher] = []

    async def make(device: str, filters: list[tuple[str, int]] | None = None) -> Watcher:
        opts = client_options(broker.port, device, certs.devices[device], certs)
        w = Watcher(opts, filters or [])
        made.append(w)
        if filters:
            return await w.start()
        await w.client.start()
        await w.client.wait_connected(WAIT)
        return w

    yield make
    for w in made:
        await w.stop()


async def test_a_kiosk_publishes_only_in_its_own_tree(
    kiosks: Callable[..., Any], watch: Callable[..., Any]
) -> None:
    admin = await watch()
    a = await kiosks(DEVICE)
    await a.client.publish(topic(DEVICE, Channel.HEALTH), b"{}", qos=1)
    for other in (
        topic(OTHER_DEVICE, Channel.STATE),
        topic(OTHER_DEVICE, Channel.DESIRED),
        topic(OTHER_DEVICE, Channel.USAGE),
        "kiosk/v1",  # above its tree
        "fleet/v1/fleet-admin/sync/x",
        "$SYS/broker/x",
    ):
        with pytest.raises(MqttRefused) as refused:
            await a.client.publish(other, b"{}", qos=1)
        assert refused.value.reason == NOT_AUTHORIZED, other
    await admin.wait_for(lambda m: m.topic == topic(DEVICE, Channel.HEALTH))
    assert [m.topic for m in admin.messages] == [topic(DEVICE, Channel.HEALTH)]


async def test_subscriptions_outside_its_tree_deliver_nothing(
    kiosks: Callable[..., Any], certs: Certs, broker: MosquittoBroker
) -> None:
    b = await kiosks(OTHER_DEVICE)
    await b.client.publish(topic(OTHER_DEVICE, Channel.STATE), b"retained-b", qos=1, retain=True)
    admin_opts = client_options(broker.admin_port, "adm", certs.admin, certs)
    admin = MqttClient(admin_opts)
    await admin.start()
    await admin.wait_connected(WAIT)
    await admin.publish(topic(OTHER_DEVICE, Channel.DESIRED), b"retained-d", qos=1, retain=True)

    spy = await kiosks(DEVICE, [("kiosk/#", 1), ("#", 1), (f"kiosk/v1/{OTHER_DEVICE}/#", 1)])
    marker = topic(DEVICE, Channel.STATE)  # of what it writes, a kiosk reads only its state
    await b.client.publish(topic(OTHER_DEVICE, Channel.USAGE), b"live-b", qos=1)
    await admin.publish(command_topic(OTHER_DEVICE, "0" * 32), b"live-cmd", qos=1)
    await admin.publish(topic(DEVICE, Channel.DESIRED), b"for-a", qos=1)
    await spy.client.publish(marker, b"marker", qos=1)
    # Delivery is in order on one connection: once the marker is back, nothing else is coming.
    await spy.wait_for(lambda m: m.topic == marker)
    got = {m.topic for m in spy.messages}
    assert got == {marker, topic(DEVICE, Channel.DESIRED)}
    await admin.stop()


async def test_the_admin_cannot_write_what_kiosks_report(
    watch: Callable[..., Any], broker: MosquittoBroker, certs: Certs
) -> None:
    admin = MqttClient(client_options(broker.admin_port, "adm", certs.admin, certs))
    await admin.start()
    await admin.wait_connected(WAIT)
    await admin.publish(topic(DEVICE, Channel.DESIRED), b"d", qos=1, retain=True)
    await admin.publish(command_topic(DEVICE, "1" * 32), b"c", qos=1)
    for channel in (Channel.STATE, Channel.HEALTH, Channel.USAGE, Channel.REPORTED):
        with pytest.raises(MqttRefused):
            await admin.publish(topic(DEVICE, channel), b"forged", qos=1)
    await admin.stop()


async def _handshake_refused(broker: MosquittoBroker, port: int, ctx: ssl.SSLContext) -> None:
    """The TLS handshake (or the CONNECT right after it) fails; no connection is made."""
    failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    def failure(err: BaseException) -> None:
        if not failed.done():
            failed.set_result(err)

    options = MqttOptions("127.0.0.1", port, "x", ctx, connect_timeout=3.0, reconnect_min=5.0)
    client = MqttClient(options, on_connect_failure=failure)
    await client.start()
    async with asyncio.timeout(WAIT):
        await failed
    assert client.stats.connects == 0
    await client.stop()


async def test_only_the_right_ca_on_each_listener(broker: MosquittoBroker, certs: Certs) -> None:
    pki = certs.pki
    device_ctx = pki.client_context(certs.devices[DEVICE])
    admin_ctx = pki.client_context(certs.admin)
    now = dt.datetime.now(dt.UTC)
    expired = pki.issue_device(
        "KIOSK-A7", "perpus-a", not_before=now - dt.timedelta(days=30), not_after=now
    )
    revoked = pki.issue_device("KIOSK-A8", "perpus-a")
    pki.revoke(revoked)
    broker.reload()  # read the CRL again
    refused = [
        (broker.admin_port, device_ctx),  # a kiosk on the admin listener
        (broker.port, admin_ctx),  # an admin on the kiosk listener
        (broker.port, pki.client_context(pki.issue_device("KIOSK-A9", "x", foreign=True))),
        (broker.port, pki.client_context(expired)),
        (broker.port, pki.client_context(None)),  # no certificate
    ]
    for port, ctx in refused:
        await _handshake_refused(broker, port, ctx)
    restarted = MosquittoBroker(broker.run_dir, pki, port=broker.port, admin_port=broker.admin_port)
    broker.stop()
    with restarted:
        await _handshake_refused(restarted, restarted.port, pki.client_context(revoked))


async def test_no_kiosk_can_take_over_another_kiosks_session(
    broker: MosquittoBroker, certs: Certs
) -> None:
    """The client id is the certificate's CN: claiming another id does not evict its owner."""
    b = MqttClient(client_options(broker.port, OTHER_DEVICE, certs.devices[OTHER_DEVICE], certs))
    await b.start()
    await b.wait_connected(WAIT)
    impostor = MqttClient(client_options(broker.port, OTHER_DEVICE, certs.devices[DEVICE], certs))
    await impostor.start()
    await impostor.wait_connected(WAIT)
    with pytest.raises(MqttRefused):
        await impostor.publish(topic(OTHER_DEVICE, Channel.STATE), b"x", qos=1)
    await b.publish(topic(OTHER_DEVICE, Channel.STATE), b"still here", qos=1)
    assert b.stats.disconnects == 0
    await asyncio.gather(b.stop(), impostor.stop())


def _messages(w: Watcher) -> list[Message]:
    return list(w.messages)
