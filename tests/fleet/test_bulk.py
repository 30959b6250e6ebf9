"""Bulk deactivation: `Fleet.set_state_many` publishes one signed document per kiosk on one
broker connection and awaits every report at once. Many kiosks are stood in for by one
responder client (an extra admin-listener user that may write `reported`), which answers each
document as the kiosk would."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from common.tls import client_context
from fleet.actions import Fleet, Outcome
from fleet.config import load_config
from kiosk_sim.broker import ADMIN_CN, MosquittoBroker
from kiosk_sim.mosquitto_config import ADMIN_ACL
from protocol.mqtt import Channel, ReportedMessage, encode, fleet_filter, parse_topic, topic
from tests.fleet.test_cli import write_fleet_config
from tests.mqtt.fixtures import Certs

RESPONDER = "bulk-responder"
KIOSKS = int(os.environ.get("FLEET_BULK_KIOSKS", "300"))


class ResponderBroker(MosquittoBroker):
    """mosquitto whose admin listener also lets RESPONDER read `desired`, write `reported`."""

    def write_config(self) -> Path:
        path = super().write_config()
        with (self.run_dir / ADMIN_ACL).open("a") as acl:
            acl.write(
                f"user {RESPONDER}\ntopic read {fleet_filter(Channel.DESIRED)}\n"
                f"topic write {fleet_filter(Channel.REPORTED)}\n"
            )
        return path


class Responder:
    """Answers every desired document with the report of a kiosk that applied it (unless the
    device is in `silent`: an offline kiosk)."""

    def __init__(self, broker: MosquittoBroker, certs: Certs, silent: set[str]) -> None:
        issued = broker.issue_admin(RESPONDER)
        self.silent = silent
        self.ready = threading.Event()
        c = self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=RESPONDER, protocol=paho.MQTTv5
        )
        c.tls_set_context(client_context(certs.pki.server_ca.cert, issued.cert, issued.key))
        c.max_inflight_messages_set(1000)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(fleet_filter(Channel.DESIRED), qos=1)
        c.on_subscribe = lambda *a: self.ready.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", broker.admin_port)
        c.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        device = parse_topic(msg.topic).device
        if msg.retain or device in self.silent or not msg.payload:
            return
        data = json.loads(msg.payload)["body"]
        body = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        rep = ReportedMessage(
            body["version"],
            body["state"] == "deactivated",
            tuple(body["sanctions"]),
            False,
            int(time.time()),
        )
        c.publish(topic(device, Channel.REPORTED), encode(rep.to_json()), qos=1, retain=True)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def responder_broker(tmp_path: Path, certs: Certs) -> Iterator[MosquittoBroker]:
    with ResponderBroker(tmp_path / "broker", certs.pki, admins=(ADMIN_CN, RESPONDER)) as running:
        yield running


def test_set_state_many_on_one_connection(
    tmp_path: Path, certs: Certs, responder_broker: MosquittoBroker
) -> None:
    broker = responder_broker
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    devices = [f"KIOSK-B{i:04d}" for i in range(KIOSKS)]
    offline = set(devices[:2])
    responder = Responder(broker, certs, offline)
    fleet = Fleet(load_config(config))
    seen: list[tuple[int, int]] = []
    try:
        t0 = time.perf_counter()
        results = fleet.set_state_many(
            devices,
            deactivate=True,
            reason="bulk",
            timeout=3.0,
            progress=lambda done, total: seen.append((done, total)),
        )
        took = time.perf_counter() - t0
        done = [r for r in results if r.outcome is Outcome.DONE]
        last = max(r.elapsed_s for r in done)
        print(f"\nbulk: {len(done)} of {KIOSKS} kiosks reported in {last:.2f} s")
        assert [r.device for r in results] == devices
        assert len(done) == KIOSKS - 2 and all(r.deactivated for r in done)
        assert {r.device for r in results if r.outcome is Outcome.TIMEOUT} == offline
        assert all("has never connected" in r.detail for r in results if r.device in offline)
        assert len({r.document_sha256 for r in results}) == KIOSKS
        assert seen[-1] == (KIOSKS - 2, KIOSKS)
        assert max(r.elapsed_s for r in done) < 5.0 and took < 5.0 + 3.0

        # reactivated: versions go up, the offline ones still pending
        again = fleet.set_state_many(devices[2:], deactivate=False, reason="back", timeout=10)
        assert all(r.outcome is Outcome.DONE and not r.deactivated for r in again)
        assert all(a.version > b.version for a, b in zip(again, results[2:], strict=True))
    finally:
        responder.stop()
