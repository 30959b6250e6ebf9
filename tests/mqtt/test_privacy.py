"""No personal data in MQTT: every message a `kiosk/#` subscriber sees, mosquitto's persistence
and log, and the agent's state folder, scanned for the personas' canaries: zero hits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.uplink.mqtt import Message
from kiosk_sim.broker import MosquittoBroker
from protocol.mqtt import Channel, topic
from protocol.signed import DesiredState, KioskState, sign_document
from simulators.personas import PERSONAS, Persona
from tests.mqtt.fixtures import DEVICE, Certs, agent_config, running_kiosk
from tests.privacy.scan import files_under, scan_bytes, scan_tree
from tests.remote.keys import ADMIN

VISITORS = [PERSONAS[k] for k in sorted(PERSONAS)[:3]]


def canaries(people: list[Persona]) -> dict[str, str]:
    """What must never leave a session, per persona (labels only in failure messages)."""
    out: dict[str, str] = {}
    for p in people:
        out.update(
            {
                f"{p.key}.nik": p.nik,
                f"{p.key}.kk": p.kk_number,
                f"{p.key}.name": p.full_name,
                f"{p.key}.address": p.address,
                f"{p.key}.birth_date": p.birth_date.strftime("%d-%m-%Y"),
            }
        )
        if len(p.birth_place) >= 6:
            out[f"{p.key}.birth_place"] = p.birth_place
    return out


def wire_bytes(messages: list[Message]) -> bytes:
    return b"\n".join(m.topic.encode() + b" " + m.payload for m in messages)


async def test_no_personal_data_in_mqtt_or_the_broker_store(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, watch: Callable[..., Any]
) -> None:
    w = await watch([("kiosk/#", 1)])
    state_dir = tmp_path / "state"
    async with running_kiosk(agent_config(state_dir, certs, broker)) as kiosk:
        await kiosk.ready()
        for person in VISITORS:
            await kiosk.verify(person)
        uplink = kiosk.agent.uplink
        assert uplink is not None
        await uplink.telemetry.publish_health()
        body = DesiredState(DEVICE, 1, KioskState.DEACTIVATED, "audit", (), 1767225600, "adm")
        await w.client.publish(
            topic(DEVICE, Channel.DESIRED), sign_document(body, ADMIN), qos=1, retain=True
        )
        await w.wait_for(lambda m: m.topic.endswith("/reported") and b'"version":1' in m.payload)
        await w.wait_for(lambda m: m.topic.endswith("/usage") and b'"FOUND":3' in m.payload)
    broker.stop()  # saves the persistence database
    needles = canaries(VISITORS)
    channels = {m.topic.rsplit("/", 1)[-1] for m in w.messages}
    assert {"state", "health", "usage", "desired", "reported"} <= channels
    assert scan_bytes(wire_bytes(w.messages), needles) == []
    scanned = [broker.run_dir, state_dir]
    assert broker.persistence_path in files_under(scanned)
    assert any(p.name.startswith("usage.sqlite3") for p in files_under(scanned))
    assert [str(h) for h in scan_tree(scanned, needles)] == []
