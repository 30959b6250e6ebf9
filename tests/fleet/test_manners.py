"""kiosk-fleet's manners: status with a read-only admin certificate and no signing key (the
broker refuses that admin any write), versions shown as times, errors that name the file at
fault and how to point at another configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from common.tls import client_context
from fleet.cli import main
from fleet.config import load_config, render_config
from fleet.errors import EXIT_USAGE, FleetError
from fleet.mqtt import FleetMqtt
from fleet.store.base import SanctionInForce, Scope
from fleet.store.sqlite import SqliteStore
from kiosk_sim.broker import READER_CN, MosquittoBroker
from protocol.mqtt import Channel, topic
from protocol.signed import Sanction, public_pem
from tests.fleet.test_cli import fleet, register, write_fleet_config
from tests.mqtt.fixtures import DEVICE, Certs, agent_config, running_kiosk
from tests.remote.keys import ADMIN


def viewer_config(folder: Path, certs: Certs, broker: MosquittoBroker) -> Path:
    viewer = broker.issue_admin(READER_CN)
    public = folder / "admin-ed25519.pub"
    public.write_bytes(public_pem(ADMIN.public_key()))
    path = folder / "viewer.toml"
    path.write_text(
        render_config(
            signing_key=None,
            broker_host="127.0.0.1",
            broker_port=broker.admin_port,
            ca_file=certs.pki.server_ca.cert,
            cert_file=viewer.cert,
            key_file=viewer.key,
            store_path=folder / "fleet.sqlite3",
            public_key=public,
        )
    )
    return path


async def test_status_with_a_read_only_certificate_and_no_signing_key(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    viewer = viewer_config(tmp_path / "fleet", certs, broker)
    await register(config, DEVICE)
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        assert (await fleet(config, "deactivate", DEVICE, "--reason", "x"))[0] == 0
        capsys.readouterr()
        code, out, err = await fleet(viewer, "status", capsys=capsys)
        assert code == 0, err
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out), out  # VERSION as a time
        assert "VERSION (UTC)" in out and DEVICE in out
        code, out, _ = await fleet(viewer, "status", "--json", capsys=capsys)
        row = json.loads(out)[0]
        assert row["deactivated"] and row["reported_version"] > 1_700_000_000
        assert row["desired_version"] == row["reported_version"] and not row["pending"]

        code, _, err = await fleet(viewer, "reactivate", DEVICE, capsys=capsys)
        assert code == EXIT_USAGE and f"no signing key in {viewer}" in err
        # the broker refuses a read-only admin any write to the kiosks' topics
        issued = broker.issue_admin(READER_CN)
        ctx = client_context(certs.pki.server_ca.cert, issued.cert, issued.key)
        with (
            FleetMqtt("127.0.0.1", broker.admin_port, ctx, READER_CN) as mq,
            pytest.raises(FleetError, match="refused"),
        ):
            mq.publish(topic(DEVICE, Channel.DESIRED), b"{}", retain=True)
        assert kiosk.agent.session.deactivated


async def test_key_file_errors_say_what_is_wrong(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    await register(config, DEVICE)
    key = tmp_path / "fleet" / "admin-ed25519.pem"
    args = ("deactivate", DEVICE, "--reason", "x")

    key.unlink()
    code, _, err = await fleet(config, *args, capsys=capsys)
    assert code == EXIT_USAGE
    assert f"{key}: no such file (signing_key in {config})" in err
    assert (await fleet(config, "status", capsys=capsys))[0] == 0  # status needs no key

    key.mkdir()
    code, _, err = await fleet(config, *args, capsys=capsys)
    assert code == EXIT_USAGE and f"{key}: cannot be read" in err
    key.rmdir()

    key.write_text("not a key\n")
    code, _, err = await fleet(config, *args, capsys=capsys)
    assert code == EXIT_USAGE and "not an unencrypted Ed25519 private key in PEM" in err
    assert "key in PEM (signing_key in" in err


def test_config_errors_name_the_file_and_how_to_point_at_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.toml"
    assert main(["--config", str(missing), "status"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(missing) in err and "cannot be read" in err
    assert "--config FILE or KIOSK_FLEET_CONFIG=FILE" in err
    monkeypatch.setenv("KIOSK_FLEET_CONFIG", str(tmp_path / "env.toml"))
    assert main(["status"]) == EXIT_USAGE
    assert "env.toml" in capsys.readouterr().err


async def test_a_failed_action_is_audited_too(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    await register(config, DEVICE)
    broker.stop()
    code, _, err = await fleet(config, "deactivate", DEVICE, "--reason", "x", capsys=capsys)
    assert code == 1 and "cannot reach the broker" in err
    store = SqliteStore(tmp_path / "fleet" / "fleet.sqlite3")
    try:
        line = store.audit_lines(DEVICE)[-1]
        store.put_sanction(
            SanctionInForce(
                Scope.INSTITUTION,
                "perpus-a",
                Sanction.QUOTA_REDUCED,
                1_796_000_000,
                "fleet-admin",
                "PKS",
                40,
            )
        )
    finally:
        store.close()
    assert (line.entry.action, line.entry.outcome) == ("deactivate", "failed")
    assert "cannot reach the broker" in str(line.entry.detail["error"])
    broker.start()
    code, out, _ = await fleet(config, "status", capsys=capsys)
    assert code == 0
    assert "SANCTIONS IN FORCE" in out
    assert (
        "quota_reduced (40)  institution perpus-a  since 2026-11-30T00:53:20Z  by fleet-admin"
        in out
    )


def test_the_example_configuration_parses() -> None:
    example = Path(__file__).parents[2] / "deploy" / "fleet.toml.example"
    config = load_config(example)
    assert config.signing_key is not None and config.gateway is not None
