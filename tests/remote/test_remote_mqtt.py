"""Remote deactivation end to end: the agent (in-process, or a child process to SIGKILL), the
real mosquitto, and signed documents published on the admin listener."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.session.screens import Screen, ScreenName
from edge_agent.uplink.mqtt import Message, MqttClient
from hardware.card.reader import CardEvent, CardEventKind
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import (
    AckStatus,
    Channel,
    command_topic,
    parse_ack,
    parse_reported,
    topic,
)
from protocol.outcomes import Outcome
from protocol.signed import (
    Command,
    CommandName,
    DesiredState,
    KioskState,
    Sanction,
    sign_document,
)
from tests.mqtt.fixtures import (
    DEVICE,
    OTHER_DEVICE,
    WAIT,
    AgentProcess,
    Certs,
    agent_config,
    client_options,
    running_kiosk,
    write_agent_toml,
)
from tests.remote.keys import ADMIN, OTHER

DESIRED = topic(DEVICE, Channel.DESIRED)
REPORTED = topic(DEVICE, Channel.REPORTED)


def desired(
    version: int,
    state: KioskState = KioskState.DEACTIVATED,
    *,
    device: str = DEVICE,
    key: Ed25519PrivateKey = ADMIN,
    reason: str = "sanction: misuse",
) -> bytes:
    body = DesiredState(
        device,
        version,
        state,
        reason,
        (Sanction.READER_DEACTIVATED,) if state is KioskState.DEACTIVATED else (),
        int(time.time()),
        "fleet-admin",
    )
    return sign_document(body, key)


@pytest.fixture
async def admin(broker: MosquittoBroker, certs: Certs) -> AsyncIterator[MqttClient]:
    client = MqttClient(client_options(broker.admin_port, "adm", certs.admin, certs))
    await client.start()
    await client.wait_connected(WAIT)
    yield client
    await client.stop()


def reported(version: int | None = None, rejected: str | None = None) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        if m.topic != REPORTED:
            return False
        r = parse_reported(m.payload)
        if rejected is not None:
            return r.rejected is not None and r.rejected.reason == rejected
        return version is None or r.version == version

    return match


class DiskCheck:
    """A screen observer that reads the state file when the deactivated screen appears."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[bool] = []

    def show(self, screen: Screen) -> None:
        if screen.name is ScreenName.DEACTIVATED:
            self.seen.append(json.loads(self.path.read_text())["deactivated"])


async def test_deactivated_mid_session_then_reactivated(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    admin: MqttClient,
    watch: Callable[..., Any],
) -> None:
    w = await watch([(REPORTED, 1)])
    disk = DiskCheck(tmp_path / "state" / "remote-state.json")
    async with running_kiosk(
        agent_config(tmp_path / "state", certs, broker), observers=(disk,)
    ) as kiosk:
        await kiosk.ready()
        await kiosk.begin_query()  # a citizen waits for the gateway's answer
        await admin.publish(DESIRED, desired(10), qos=1, retain=True)
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
        assert disk.seen and all(disk.seen)  # on disk before the screen changed
        assert kiosk.agent.session.deactivated
        assert kiosk.agent.counter.get(Outcome.DEVICE_DEACTIVATED) == 1  # the session ended
        assert "deactivated" in kiosk.leds  # red (and amber) on
        rep = parse_reported((await w.wait_for(reported(10))).payload)
        assert rep.deactivated and rep.sanctions == ("reader_deactivated",)
        # a card is refused now
        kiosk.agent.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))
        kiosk.agent.session.on_card_event(CardEvent(CardEventKind.INSERTED, "slot"))
        assert kiosk.agent.counter.get(Outcome.DEVICE_DEACTIVATED) == 2
        kiosk.agent.session.on_card_event(CardEvent(CardEventKind.REMOVED, "slot"))

        await admin.publish(DESIRED, desired(11, KioskState.ACTIVE), qos=1, retain=True)
        await kiosk.screens.expect(ScreenName.IDLE)
        assert not parse_reported((await w.wait_for(reported(11))).payload).deactivated
        assert await kiosk.verify() is Outcome.FOUND


async def test_a_sanction_label_on_an_active_kiosk_leaves_it_alone(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, admin: MqttClient, watch: Any
) -> None:
    """quota_reduced keeps a kiosk active: the document is applied and reported, the page and a
    citizen's session go on (no new screen)."""
    w = await watch([(REPORTED, 1)])
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        for version, at_finger in ((20, False), (21, True)):
            if at_finger:
                await kiosk.begin()  # a citizen at the finger step
            shown = len(kiosk.screens.screens)
            body = DesiredState(
                DEVICE,
                version,
                KioskState.ACTIVE,
                "quota",
                (Sanction.QUOTA_REDUCED,),
                int(time.time()),
                "fleet-admin",
            )
            await admin.publish(DESIRED, sign_document(body, ADMIN), qos=1, retain=True)
            rep = parse_reported((await w.wait_for(reported(version))).payload)
            assert rep.sanctions == ("quota_reduced",) and not rep.deactivated
            assert len(kiosk.screens.screens) == shown
        assert kiosk.screens.screens[-1].name is ScreenName.FINGER


async def test_deactivation_survives_a_restart_without_the_broker(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, admin: MqttClient
) -> None:
    config = agent_config(tmp_path / "state", certs, broker)
    async with running_kiosk(config) as kiosk:
        await kiosk.ready()
        await admin.publish(DESIRED, desired(3), qos=1, retain=True)
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
    broker.stop()
    async with running_kiosk(config) as kiosk:
        assert kiosk.agent.session.deactivated
        assert kiosk.screens.names()[0] == "deactivated"
        assert kiosk.leds == ["deactivated"]


async def test_deactivated_while_offline_applied_on_reconnect(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    admin: MqttClient,
    watch: Callable[..., Any],
) -> None:
    config = agent_config(tmp_path / "state", certs, broker)
    async with running_kiosk(config) as kiosk:
        await kiosk.ready()
    # the kiosk is off; the admin deactivates it: the retained document waits
    await admin.publish(DESIRED, desired(7), qos=1, retain=True)
    w = await watch([(REPORTED, 1)])
    async with running_kiosk(config) as kiosk:
        assert not kiosk.agent.session.deactivated
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
        await w.wait_for(reported(7))


async def test_forged_replayed_rolled_back_and_foreign_documents_are_refused(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    admin: MqttClient,
    watch: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent.security")
    w = await watch([(REPORTED, 1)])
    old = desired(20, KioskState.ACTIVE)
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        await admin.publish(DESIRED, old, qos=1, retain=True)
        await w.wait_for(reported(20))
        await admin.publish(DESIRED, desired(21), qos=1, retain=True)
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
        await w.wait_for(reported(21))
        cases = [
            (desired(30, KioskState.ACTIVE, key=OTHER), "unknown_key"),  # forged
            (old, "stale_version"),  # replayed: a real document of the past
            (desired(19, KioskState.ACTIVE), "stale_version"),  # rolled back
            (desired(21, KioskState.ACTIVE), "stale_version"),  # same version, other body
            (desired(40, KioskState.ACTIVE, device=OTHER_DEVICE), "wrong_device"),
            (desired(41, KioskState.ACTIVE)[:-12] + b'AAAAAAAAAA"}', "bad_signature"),
        ]
        for raw, why in cases:
            start = len(w.messages)
            await admin.publish(DESIRED, raw, qos=1, retain=True)
            got = await w.wait_for(reported(rejected=why), start=start)
            rep = parse_reported(got.payload)
            assert rep.version == 21 and rep.deactivated, why
        assert kiosk.agent.session.deactivated
    refused = [r.getMessage() for r in caplog.records if "admin_document_rejected" in r.message]
    assert len(refused) >= len(cases)


async def test_signed_commands_once_and_in_time(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    admin: MqttClient,
    watch: Callable[..., Any],
) -> None:
    w = await watch([(f"kiosk/v1/{DEVICE}/cmd/+/ack", 1), (topic(DEVICE, Channel.HEALTH), 0)])
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        now = int(time.time())

        async def send(name: CommandName, raw: bytes | None = None, nonce: str = "") -> Any:
            nonce = nonce or secrets.token_hex(16)
            raw = raw or sign_document(
                Command(DEVICE, nonce, name, now, now + 60, "fleet-admin"), ADMIN
            )
            start = len(w.messages)
            await admin.publish(command_topic(DEVICE, nonce), raw, qos=1)
            got = await w.wait_for(lambda m: m.topic.endswith(nonce + "/ack"), start=start)
            return parse_ack(got.payload)

        nonce = secrets.token_hex(16)
        ping = sign_document(Command(DEVICE, nonce, CommandName.PING, now, now + 60, "a"), ADMIN)
        assert (await send(CommandName.PING, ping, nonce)).status is AckStatus.DONE
        replay = await send(CommandName.PING, ping, nonce)
        assert (replay.status, replay.reason) == (AckStatus.REJECTED, "nonce_reused")
        expired_nonce = secrets.token_hex(16)
        expired = sign_document(
            Command(DEVICE, expired_nonce, CommandName.PING, now - 600, now - 60, "a"), ADMIN
        )
        late = await send(CommandName.PING, expired, expired_nonce)
        assert (late.status, late.reason) == (AckStatus.REJECTED, "expired")
        start = len(w.messages)
        assert (await send(CommandName.REPORT_NOW)).status is AckStatus.DONE
        await w.wait_for(lambda m: m.topic.endswith("/health"), start=start)
        rotate = await send(CommandName.ROTATE_CERTIFICATE)
        assert rotate.status is AckStatus.UNSUPPORTED


@pytest.mark.parametrize("where", ["after-save", "before-rename"])
async def test_killed_while_applying_a_version(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    admin: MqttClient,
    watch: Callable[..., Any],
    where: str,
) -> None:
    """SIGKILL right after the version is on disk (before acting), or just before the write is
    committed: either way the next start applies exactly what is on disk, and refuses the
    replay of an older document."""
    w = await watch([(REPORTED, 1)])
    config = write_agent_toml(tmp_path / "agent", certs, broker)
    old = desired(5, KioskState.ACTIVE)
    child = await AgentProcess(config).start()
    try:
        await admin.publish(DESIRED, old, qos=1, retain=True)
        await w.wait_for(reported(5))
        assert await child.terminate() == 0
        child = await AgentProcess(config, "--hang", where, "--version", "6").start()
        await admin.publish(DESIRED, desired(6), qos=1, retain=True)
        await child.expect("HUNG")
        await child.kill()
        start = len(w.messages)
        child = await AgentProcess(config).start()
        got = parse_reported((await w.wait_for(reported(6), start=start)).payload)
        assert got.deactivated  # after-save: from disk at start; before-rename: redelivered
        start = len(w.messages)
        await admin.publish(DESIRED, old, qos=1, retain=True)  # the replay
        got_back = await w.wait_for(reported(rejected="stale_version"), start=start)
        rep = parse_reported(got_back.payload)
        assert rep.version == 6 and rep.deactivated
    finally:
        await child.kill()
    state = json.loads((tmp_path / "agent" / "state" / "remote-state.json").read_text())
    assert state["version"] == 6 and state["deactivated"] is True
