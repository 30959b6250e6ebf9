"""The broker's TLS and per-subtopic ACL, proven with mosquitto's own clients and openssl.

A kiosk writes `state`, `health`, `usage`, `reported`, `cmd/<id>/ack` of its own tree and reads
its `desired`, `cmd/<id>` (and `state`); nothing else. What a forbidden publish did is judged by
what a subscriber with the right to read it receives: the forbidden messages are followed by an
allowed marker from the same side, and the first message the witness gets must be that marker
(delivery to one subscriber keeps the broker's order). MQTT v5 also answers PUBACK "not
authorized" (0x87); MQTT 3.1.1 answers success and drops the message. A topic that no one may
read is judged by the v5 answer alone.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

from common.tls import client_context
from fleet.config import TlsFiles
from kiosk_sim.broker import ADMIN_CN, MosquittoBroker
from kiosk_sim.pki import Issued
from protocol.mqtt import Channel, ack_topic, command_filter, command_topic, topic
from tests.mqtt.fixtures import DEVICE, OTHER_DEVICE, WAIT, Certs
from tests.mqtt.mosquitto_clients import NOT_AUTHORIZED, MosquittoClients, s_client

CMD_ID = "0123456789abcdef" * 2
VERSIONS = ["5", "311"]
LISTENERS = ["kiosks", "admins"]
DESIRED = topic(DEVICE, Channel.DESIRED)
OWN_COMMAND = command_topic(DEVICE, CMD_ID)


def kiosk(
    broker: MosquittoBroker, certs: Certs, device: str = DEVICE, version: str = "5"
) -> MosquittoClients:
    """mosquitto clients with a kiosk's certificate on the kiosk listener."""
    return MosquittoClients(broker.port, certs.pki.server_ca.cert, certs.devices[device], version)


def admin(broker: MosquittoBroker, certs: Certs) -> MosquittoClients:
    """mosquitto clients with the admin certificate on the admin listener."""
    return MosquittoClients(broker.admin_port, certs.pki.server_ca.cert, certs.admin)


def refused(version: str) -> int:
    """The PUBACK reason of a forbidden publish: 0x87 in v5, success (dropped) in 3.1.1."""
    return NOT_AUTHORIZED if version == "5" else 0


def _listener(broker: MosquittoBroker, certs: Certs, which: str) -> tuple[int, Issued]:
    if which == "kiosks":
        return broker.port, certs.devices[DEVICE]
    return broker.admin_port, certs.admin


# --- TLS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", LISTENERS)
@pytest.mark.parametrize(
    "cipher",
    [
        "ECDHE-ECDSA-AES128-SHA",  # CBC, SHA-1: accepted by the TLS 1.2 listeners of before
        "ECDHE-ECDSA-AES256-SHA384",  # CBC
        "ECDHE-ECDSA-AES128-GCM-SHA256",  # AEAD, but TLS 1.2
    ],
)
async def test_tls_1_2_is_refused(
    broker: MosquittoBroker, certs: Certs, which: str, cipher: str
) -> None:
    port, issued = _listener(broker, certs, which)
    done = await s_client(port, certs.pki.server_ca.cert, issued, "-tls1_2", "-cipher", cipher)
    assert done.returncode != 0, done.output
    assert "alert protocol version" in done.output
    assert "Cipher is (NONE)" in done.output


@pytest.mark.parametrize("which", LISTENERS)
async def test_tls_1_3_is_accepted(broker: MosquittoBroker, certs: Certs, which: str) -> None:
    port, issued = _listener(broker, certs, which)
    done = await s_client(port, certs.pki.server_ca.cert, issued, "-tls1_3")
    assert done.returncode == 0, done.output
    assert "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" in done.output


@pytest.mark.parametrize("which", LISTENERS)
async def test_our_clients_speak_tls_1_3(broker: MosquittoBroker, certs: Certs, which: str) -> None:
    """The agent's and the fleet's TLS contexts (the paho clients') negotiate TLS 1.3."""
    port, issued = _listener(broker, certs, which)
    ca = certs.pki.server_ca.cert
    contexts = {
        "kiosks": client_context(ca, issued.cert, issued.key),
        "admins": TlsFiles(ca, issued.cert, issued.key).context(),
    }
    ctx: ssl.SSLContext = contexts[which]
    async with asyncio.timeout(WAIT):
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
        )
    try:
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
    finally:
        writer.close()
        await writer.wait_closed()


# --- what a kiosk may do ----------------------------------------------------------------------


async def test_a_kiosk_writes_its_reports(broker: MosquittoBroker, certs: Certs) -> None:
    own = kiosk(broker, certs)
    written = [topic(DEVICE, c) for c in (Channel.STATE, Channel.HEALTH, Channel.USAGE)]
    written += [topic(DEVICE, Channel.REPORTED), ack_topic(DEVICE, CMD_ID)]
    async with admin(broker, certs).subscribed(["kiosk/#"], count=len(written)) as witness:
        for n, where in enumerate(written):
            assert await own.publish(where, f"m{n}") < 0x80, where
        got = await witness.result()
    assert got.messages() == [(where, f"m{n}") for n, where in enumerate(written)]


async def test_a_kiosk_reads_its_desired_state_and_commands(
    broker: MosquittoBroker, certs: Certs
) -> None:
    adm, own = admin(broker, certs), kiosk(broker, certs)
    state = topic(DEVICE, Channel.STATE)
    assert await adm.publish(DESIRED, "signed-desired", retain=True) < 0x80
    assert await own.publish(state, "stale-will", retain=True) < 0x80
    async with own.subscribed([DESIRED, command_filter(DEVICE), state], count=3) as reader:
        assert await adm.publish(OWN_COMMAND, "signed-command") < 0x80
        got = await reader.result()
    expected = [(DESIRED, "signed-desired"), (state, "stale-will"), (OWN_COMMAND, "signed-command")]
    assert sorted(got.messages()) == sorted(expected)


# --- what a kiosk may not do ------------------------------------------------------------------


FORBIDDEN_ELSEWHERE = [
    *(topic(OTHER_DEVICE, c) for c in (Channel.STATE, Channel.HEALTH, Channel.USAGE)),
    *(topic(OTHER_DEVICE, c) for c in (Channel.REPORTED, Channel.DESIRED)),
    ack_topic(OTHER_DEVICE, CMD_ID),
    command_topic(OTHER_DEVICE, CMD_ID),
    "fleet/v1/" + ADMIN_CN + "/sync",
    # no one reads these: the v5 answer is the proof
    "kiosk/v1",
    f"kiosk/v1/{DEVICE}",
    f"kiosk/v1/{DEVICE}/other",
    topic(DEVICE, Channel.STATE) + "/below",
    "$SYS/broker/x",
]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_kiosk_writes_nothing_outside_its_reports(
    broker: MosquittoBroker, certs: Certs, version: str
) -> None:
    own, adm = kiosk(broker, certs, version=version), admin(broker, certs)
    other = kiosk(broker, certs, OTHER_DEVICE)
    marker = topic(DEVICE, Channel.HEALTH)
    other_reads = [topic(OTHER_DEVICE, Channel.DESIRED), command_filter(OTHER_DEVICE)]
    async with (
        adm.subscribed(["kiosk/#", "fleet/#"], count=1) as admin_witness,
        other.subscribed(other_reads, count=1) as other_witness,
    ):
        for where in FORBIDDEN_ELSEWHERE:
            assert await own.publish(where, "forged") == refused(version), where
        assert await own.publish(marker, "marker") < 0x80
        assert await adm.publish(command_topic(OTHER_DEVICE, CMD_ID), "marker") < 0x80
        from_admin, from_other = await admin_witness.result(), await other_witness.result()
    assert from_admin.messages() == [(marker, "marker")]
    assert from_other.messages() == [(command_topic(OTHER_DEVICE, CMD_ID), "marker")]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_kiosk_cannot_overwrite_or_erase_its_retained_desired_state(
    broker: MosquittoBroker, certs: Certs, version: str
) -> None:
    own, adm = kiosk(broker, certs, version=version), admin(broker, certs)
    assert await adm.publish(DESIRED, "signed-desired", retain=True) < 0x80
    assert await own.publish(DESIRED, "forged", retain=True) == refused(version)
    assert await own.publish(DESIRED, None, retain=True) == refused(version)  # erase
    async with adm.subscribed([DESIRED], count=1) as newcomer:
        got = await newcomer.result()
    assert got.messages() == [(DESIRED, "signed-desired")]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("target", [OWN_COMMAND, DESIRED])
async def test_a_kiosk_cannot_send_itself_a_command_or_a_desired_state(
    broker: MosquittoBroker, certs: Certs, version: str, target: str
) -> None:
    """mosquitto_rr subscribes and publishes on one connection: the kiosk is its own witness."""
    own, adm = kiosk(broker, certs, version=version), admin(broker, certs)
    async with own.request(target, target, "forged") as rr:
        answer = await rr.wait_for_line("received PUBACK")
        assert f"RC:{refused(version)})" in answer
        assert await adm.publish(target, "from-the-admin") < 0x80
        got = await rr.result()
    assert got.messages() == [(target, "from-the-admin")]


async def test_a_kiosk_subscribed_beyond_its_rights_receives_only_its_own(
    broker: MosquittoBroker, certs: Certs
) -> None:
    own, adm = kiosk(broker, certs), admin(broker, certs)
    other = kiosk(broker, certs, OTHER_DEVICE)
    # retained messages it may not read, its own included
    assert await own.publish(topic(DEVICE, Channel.HEALTH), "own-health", retain=True) < 0x80
    assert await own.publish(topic(DEVICE, Channel.REPORTED), "own-reported", retain=True) < 0x80
    assert await other.publish(topic(OTHER_DEVICE, Channel.STATE), "b", retain=True) < 0x80
    assert await adm.publish(topic(OTHER_DEVICE, Channel.DESIRED), "d-b", retain=True) < 0x80
    filters = [
        "#",
        "kiosk/#",
        f"kiosk/v1/{OTHER_DEVICE}/#",
        *(topic(DEVICE, c) for c in (Channel.HEALTH, Channel.USAGE, Channel.REPORTED)),
        f"kiosk/v1/{DEVICE}/cmd/+/ack",
        "fleet/#",
        "$SYS/#",
        command_filter(DEVICE),
    ]
    async with own.subscribed(filters, count=1) as spy:
        assert await other.publish(topic(OTHER_DEVICE, Channel.USAGE), "live-b") < 0x80
        assert await other.publish(ack_topic(OTHER_DEVICE, CMD_ID), "ack-b") < 0x80
        assert await adm.publish(command_topic(OTHER_DEVICE, CMD_ID), "cmd-b") < 0x80
        assert await adm.publish(OWN_COMMAND, "marker") < 0x80
        got = await spy.result()
    assert got.messages() == [(OWN_COMMAND, "marker")]
