"""kiosk-fleet's registry and audit trail: unknown and wrong-case ids refused (exit 2) unless
--force, an entry made by mistake removed with its gateway revocation undone, every action
audited, and `audit verify` catching an edited, a removed and reordered lines."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fleet.cli import main, parser
from fleet.errors import EXIT_USAGE
from gateway.server import RunningGateway
from kiosk_sim.broker import MosquittoBroker
from tests.fleet.test_cli import fleet, register, write_fleet_config
from tests.mqtt.fixtures import DEVICE, Certs, agent_config, running_kiosk

AUDIT_BROKEN = 5


def audit(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["--config", str(config), "audit", *args, "--json"]) == 0
    lines: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return lines


async def test_unknown_ids_are_refused_and_forced_ones_audited(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    gateway: RunningGateway,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, gateway)
    await register(config, DEVICE)
    capsys.readouterr()
    for args in (
        ["deactivate", "KIOSK-SIM-9999", "--reason", "typo"],
        ["reactivate", "KIOSK-SIM-9999"],
        ["command", "KIOSK-SIM-9999", "ping"],
        ["sanction", "set", "reader_deactivated", "--device", "KIOSK-SIM-9999"],
    ):
        code, _, err = await fleet(config, *args, capsys=capsys)
        assert code == EXIT_USAGE, args
        assert "KIOSK-SIM-9999 is not in the registry" in err and "devices add" in err
        assert "--force" in err
    code, _, err = await fleet(config, "deactivate", DEVICE.lower(), "--reason", "x", capsys=capsys)
    assert code == EXIT_USAGE and f"did you mean {DEVICE}?" in err
    assert "KIOSK-SIM-9999" not in gateway.registry.revoked
    # an institution's sanction is not a label on one kiosk's document
    code, _, err = await fleet(
        config, "deactivate", DEVICE, "--reason", "x", "--sanction", "network_cut", capsys=capsys
    )
    assert code == EXIT_USAGE and "sanction set --institution ID network_cut" in err

    # --force: the action goes ahead (the kiosk never answers), audited as forced
    code, _, err = await fleet(
        config,
        "deactivate",
        "KIOSK-SIM-9999",
        "--reason",
        "x",
        "--force",
        "--timeout",
        "0.2",
        capsys=capsys,
    )
    assert code == 3 and "has never connected" in err
    assert "KIOSK-SIM-9999" in gateway.registry.revoked
    lines = audit(config, capsys, "--target", "KIOSK-SIM-9999")
    assert [(x["action"], x["outcome"]) for x in lines] == [
        ("deactivate", "refused"),
        ("reactivate", "refused"),
        ("command", "refused"),
        ("sanction_set", "refused"),
        ("deactivate", "timeout"),
    ]
    forced = lines[-1]
    assert forced["detail"]["forced"] is True and len(str(forced["document_sha256"])) == 64  # type: ignore[index]
    assert forced["admin"] == "fleet-admin"

    # the mistake undone: not registered, but revoked at the gateway
    code, out, _ = await fleet(config, "devices", "remove", "KIOSK-SIM-9999", capsys=capsys)
    assert code == 0 and "reinstated at the gateway" in out
    assert "KIOSK-SIM-9999" not in gateway.registry.revoked
    code, _, err = await fleet(config, "devices", "remove", "KIOSK-SIM-9999", capsys=capsys)
    assert code == EXIT_USAGE and "neither registered nor revoked" in err


async def test_registry_commands(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    gateway: RunningGateway,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, gateway)
    code, out, _ = await fleet(
        config,
        "devices",
        "add",
        "KIOSK-X1",
        "--institution",
        "perpus-a",
        "--region",
        "3374",
        "--serial",
        "SN-0001",
        "--cert-serial",
        "0a1b",
        "--cert-expires",
        "2027-01-31T00:00:00Z",
        capsys=capsys,
    )
    assert code == 0 and "registered" in out
    await register(config, "KIOSK-Y1", institution="dinsos-b")
    capsys.readouterr()
    for args, err_text in (
        (["devices", "add", "KIOSK-X1", "--institution", "a", "--region", "33"], "already"),
        (["devices", "add", "kiosk-x1", "--institution", "a", "--region", "33"], "case"),
        (["devices", "add", "KIOSK-Z1", "--institution", "a", "--region", "3"], "region"),
        (["devices", "add", "no such", "--institution", "a", "--region", "33"], "device id"),
    ):
        code, _, err = await fleet(config, *args, capsys=capsys)
        assert code == EXIT_USAGE and err_text in err, (args, err)

    code, out, _ = await fleet(config, "devices", "list", "--json", capsys=capsys)
    assert [d["device"] for d in json.loads(out)] == ["KIOSK-X1", "KIOSK-Y1"]
    code, out, _ = await fleet(config, "devices", "list", "--region", "33", capsys=capsys)
    assert "KIOSK-X1" in out and "2027-01-31T00:00:00Z" in out and "KIOSK-Y1" in out
    code, out, _ = await fleet(
        config, "devices", "list", "--institution", "dinsos-b", "--json", capsys=capsys
    )
    assert [d["device"] for d in json.loads(out)] == ["KIOSK-Y1"]
    code, out, _ = await fleet(config, "devices", "show", "KIOSK-X1", "--json", capsys=capsys)
    shown = json.loads(out)
    assert (shown["serial"], shown["cert_serial"], shown["state"]) == ("SN-0001", "0a1b", "active")

    code, out, _ = await fleet(config, "devices", "remove", "KIOSK-Y1", capsys=capsys)
    assert code == 0 and "removed from the registry" in out
    actions = [(x["action"], x["target"]) for x in audit(config, capsys)]
    assert actions == [
        ("register", "KIOSK-X1"),
        ("register", "KIOSK-Y1"),
        ("unregister", "KIOSK-Y1"),
    ]


async def test_audit_verify_detects_edits_removals_and_reordering(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    gateway: RunningGateway,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, gateway)
    await register(config, DEVICE)
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        assert (await fleet(config, "deactivate", DEVICE, "--reason", "x"))[0] == 0
        assert (await fleet(config, "reactivate", DEVICE))[0] == 0
        assert (await fleet(config, "command", DEVICE, "ping"))[0] == 0
    capsys.readouterr()
    code, out, _ = await fleet(config, "audit", "verify", capsys=capsys)
    assert code == 0 and "audit chain: 4 lines" in out and "intact" in out
    head = out.split("head ")[1].split(":")[0]
    lines = audit(config, capsys)
    assert [x["action"] for x in lines] == ["register", "deactivate", "reactivate", "command"]
    assert all(len(str(x["document_sha256"])) == 64 for x in lines[1:])

    db = tmp_path / "fleet" / "fleet.sqlite3"
    original = sqlite3.connect(db).execute("SELECT * FROM audit ORDER BY seq").fetchall()

    def tamper(*statements: str) -> tuple[int, str]:
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM audit")
            conn.executemany("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?)", original)
            for sql in statements:
                conn.execute(sql)
        capsys.readouterr()
        code = main(["--config", str(config), "audit", "verify", "--head", head])
        return code, capsys.readouterr().err

    code, err = tamper("UPDATE audit SET outcome = 'failed' WHERE seq = 2")
    assert code == AUDIT_BROKEN and "seq 2: hash does not match the line (edited)" in err
    code, err = tamper("DELETE FROM audit WHERE seq = 3")
    assert code == AUDIT_BROKEN and "seq 4: seq 3 missing" in err
    code, err = tamper(
        "UPDATE audit SET seq = 100 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = 100",
    )
    assert code == AUDIT_BROKEN and "seq 2:" in err
    code, err = tamper("DELETE FROM audit WHERE seq = 4")  # a lost tail: the noted head
    assert code == AUDIT_BROKEN
    code, err = tamper()
    assert code == 0


def test_help_documents_the_exit_codes() -> None:
    text = parser().format_help()
    assert "exit codes:" in text and "KIOSK_FLEET_CONFIG" in text
    for code in ("0  done", "2  usage", "3  a kiosk did not report", "4  a kiosk refused"):
        assert code in text
