"""Bulk deactivation: `Fleet.set_state_many` publishes one signed document per kiosk on one
broker connection and awaits every report at once. The kiosks are a swarm of lightweight
simulated kiosks (kiosk_sim.swarm) on the kiosk listener, each with its own certificate, each
checking the document's signature and reporting the version it applied."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from fleet.actions import Fleet, Outcome
from fleet.cli import main
from fleet.config import load_config
from fleet.store.base import SanctionInForce, Scope
from fleet.store.sqlite import SqliteStore
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.swarm import answering_swarm
from protocol.signed import Sanction, keyring
from tests.fleet.test_cli import write_fleet_config
from tests.mqtt.fixtures import Certs
from tests.remote.keys import ADMIN

KIOSKS = int(os.environ.get("FLEET_BULK_KIOSKS", "40"))


def answering(broker: MosquittoBroker, certs: Certs, devices: list[str]) -> Any:
    """These kiosks connected, each applying the documents signed by the tests' admin key."""
    return answering_swarm(broker, certs.pki, devices, keyring(ADMIN.public_key()))


def test_set_state_many_on_one_connection(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    devices = [f"KIOSK-B{i:04d}" for i in range(KIOSKS)]
    offline = set(devices[:2])
    fleet = Fleet(load_config(config))
    seen: list[tuple[int, int]] = []
    with answering(broker, certs, devices[2:]):
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


def test_bulk_through_the_cli_with_a_kiosk_held_by_a_sanction(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    capsys: pytest.CaptureFixture[str],
) -> None:
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
    with answering(broker, certs, [*devices, "KIOSK-D1"]):
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
    store = SqliteStore(tmp_path / "fleet" / "fleet.sqlite3")
    try:
        lines = [(x.entry.action, x.entry.target, x.entry.outcome) for x in store.audit_lines()]
    finally:
        store.close()
    assert ("bulk_deactivate", "region:33", "done") in lines
    assert ("bulk_reactivate", "institution:perpus-a", "refused") in lines
    assert ("reactivate", "KIOSK-C2", "refused") in lines
    assert not any(t == "KIOSK-D1" for _, t, _ in lines[4:])  # another institution, region
