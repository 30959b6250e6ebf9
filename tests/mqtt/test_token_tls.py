"""MQTT (paho) to the real mosquitto with the kiosk's key in a PKCS#11 token (SoftHSM)."""

from __future__ import annotations

from pathlib import Path

from common.token import TokenConfig
from edge_agent.uplink.mqtt import MqttClient
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel, topic
from tests.mqtt.fixtures import DEVICE, WAIT, Certs, client_options
from tests.softhsm import token_identity


async def test_the_broker_takes_a_token_key_over_tls13(
    broker: MosquittoBroker,
    certs: Certs,
    softhsm_token: TokenConfig,
    token_provider: Path,
    tmp_path: Path,
) -> None:
    issued = token_identity(certs.pki, softhsm_token, DEVICE, "perpus-a", tmp_path)
    assert b"PKCS#11 PROVIDER URI" in issued.key.read_bytes()  # no private key in any file
    client = MqttClient(client_options(broker.port, DEVICE, issued, certs))
    await client.start()
    try:
        await client.wait_connected(WAIT)
        sock = client._current().paho.socket()
        assert sock.version() == "TLSv1.3"  # type: ignore[union-attr]
        await client.publish(topic(DEVICE, Channel.HEALTH), b"{}", qos=1)
    finally:
        await client.stop()
