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
from fleet.cli import main
from fleet.config import load_config
from fleet.store.base import SanctionInForce, Scope
from fleet.store.sqlite import SqliteStore
from kiosk_sim.broker import ADMIN_CN, MosquittoBroker
from kiosk_sim.mosquitto_config import ADMIN_ACL
from protocol.mqtt import Channel, ReportedMessage, encode, fleet_filter, parse_topic, topic
from protocol.signed import Sanction
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


def test_bulk_through_the_cli_with_a_kiosk_held_by_a_sanction(
    tmp_path: Path,
    certs: Certs,
    responder_broker: MosquittoBroker,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = responder_broker
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    devices = ["KIOSK-C1", "KIOSK-C2", "KIOSK-C3"]
    for d in devices:
        assert (
            main(
                [
                    "--config",
                    str(config),
                    "devices",
                    "add",
                    d,
                    "--institution",
                    "perpus-a",
                    "--region",
                    "3374",
                ]
            )
            == 0
        )
    assert (
        main(
            [
                "--config",
                str(config),
                "devices",
                "add",
                "KIOSK-D1",
                "--institution",
                "dinsos-b",
                "--region",
                "7301",
            ]
        )
        == 0
    )
    store = SqliteStore(tmp_path / "fleet" / "fleet.sqlite3")
    try:
        store.put_sanction(
            SanctionInForce(Scope.DEVICE, "KIOSK-C2", Sanction.READER_DEACTIVATED, 1, "a", "r")
        )
    finally:
        store.close()
    responder = Responder(broker, certs, set())
    try:
        capsys.readouterr()
        code = main(["--config", str(config), "deactivate", "--region", "33", "--reason", "bulk"])
        out = capsys.readouterr().out
        assert code == 0 and "region:33: 3 kiosks: 3 applied, 0 offline/pending" in out
        code = main(["--config", str(config), "reactivate", "--institution", "perpus-a", "--json"])
        result = json.loads(capsys.readouterr().out)
        assert code == 4 and result["summary"] == {
            "applied": 2,
            "pending": 0,
            "refused": 1,
            "failed": 0,
        }
        held = [k for k in result["kiosks"] if k["outcome"] == "refused"]
        assert [k["device"] for k in held] == ["KIOSK-C2"]
        assert "reader_deactivated is in force" in held[0]["detail"]
    finally:
        responder.stop()
    store = SqliteStore(tmp_path / "fleet" / "fleet.sqlite3")
    try:
        lines = [(x.entry.action, x.entry.target, x.entry.outcome) for x in store.audit_lines()]
    finally:
        store.close()
    assert ("bulk_deactivate", "region:33", "done") in lines
    assert ("bulk_reactivate", "institution:perpus-a", "refused") in lines
    assert ("reactivate", "KIOSK-C2", "refused") in lines
    assert not any(t == "KIOSK-D1" for _, t, _ in lines[4:])  # another institution, region
