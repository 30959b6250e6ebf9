"""The fleet service's place in the broker's ACL, against the real mosquitto: its certificate
(admin CA, CN fleet-service) reads the kiosks' topics through $share and writes nothing under
kiosk/v1, not even a desired state or a command (the admins' own rights)."""

from __future__ import annotations

import pytest

from edge_agent.uplink.mqtt import MqttClient, MqttRefused
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel, ack_topic, command_topic, topic
from tests.mqtt.fixtures import DEVICE, WAIT, Certs, client_options

NOT_AUTHORIZED = 0x87


async def test_the_service_writes_nothing_under_kiosk_v1(
    broker: MosquittoBroker, certs: Certs
) -> None:
    service = broker.issue_service()
    client = MqttClient(client_options(broker.admin_port, "fleet-service-x", service, certs))
    await client.start()
    await client.wait_connected(WAIT)
    try:
        for name in (
            *(topic(DEVICE, c) for c in (Channel.STATE, Channel.HEALTH, Channel.USAGE)),
            topic(DEVICE, Channel.REPORTED),
            topic(DEVICE, Channel.DESIRED),
            command_topic(DEVICE, "2" * 32),
            ack_topic(DEVICE, "2" * 32),
        ):
            with pytest.raises(MqttRefused) as refused:
                await client.publish(name, b"forged", qos=1)
            assert refused.value.reason == NOT_AUTHORIZED, name
        await client.publish("fleet/v1/fleet-service/sync/x", b"its own", qos=1)
    finally:
        await client.stop()
