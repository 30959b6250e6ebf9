"""kiosk-fleet end to end: the real mosquitto, the real gateway's admin API, the agent running
in-process on fake devices. The CLI blocks (paho's thread, http.client), so it runs in a thread
while the agent runs on the loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from edge_agent.session.screens import ScreenName
from fleet.cli import main
from fleet.config import parse_config, render_config
from fleet.errors import EXIT_REJECTED, EXIT_TIMEOUT, EXIT_USAGE, FleetError
from gateway.server import RunningGateway
from kiosk_sim.broker import MosquittoBroker
from protocol.signed import private_pem
from tests.mqtt.fixtures import DEVICE, OTHER_DEVICE, Certs, agent_config, running_kiosk
from tests.remote.keys import ADMIN, OTHER


def write_fleet_config(
    folder: Path,
    certs: Certs,
    broker: MosquittoBroker,
    gateway: RunningGateway | None,
    key: Any = ADMIN,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    signing = folder / "admin-ed25519.pem"
    signing.write_bytes(private_pem(key))
    path = folder / "fleet.toml"
    path.write_text(
        render_config(
            signing_key=signing,
            broker_host="127.0.0.1",
            broker_port=broker.admin_port,
            ca_file=certs.pki.server_ca.cert,
            cert_file=certs.admin.cert,
            key_file=certs.admin.key,
            gateway_url=gateway.url if gateway else None,
            store_path=folder / "fleet.sqlite3",
        )
    )
    return path


async def register(config: Path, *devices: str, institution: str = "perpus-a") -> None:
    for device in devices:
        code = await asyncio.to_thread(
            main,
            [
                "--config",
                str(config),
                "devices",
                "add",
                device,
                "--institution",
                institution,
                "--region",
                "33",
            ],
        )
        assert code == 0


async def fleet(
    config: Path, *args: str, capsys: pytest.CaptureFixture[str] | None = None
) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["--config", str(config), *args])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


async def test_deactivate_and_reactivate(
    tmp_path: Path,
    certs: Certs,
    broker: MosquittoBroker,
    gateway: RunningGateway,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, gateway)
    await register(config, DEVICE)
    capsys.readouterr()
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        code, out, err = await fleet(
            config, "deactivate", DEVICE, "--reason", "PKS sanction", capsys=capsys
        )
        assert code == 0, err
        assert out.startswith(f"{DEVICE}: deactivated (version ") and "gateway: revoked" in out
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
        assert DEVICE in gateway.registry.revoked

        code, out, _ = await fleet(config, "status", "--json", capsys=capsys)
        rows = json.loads(out)
        assert code == 0 and [r["device"] for r in rows] == [DEVICE]
        row = rows[0]
        assert row["online"] and row["deactivated"] and not row["pending"]
        assert row["tamper"] is False and row["cert_days_left"] >= 364
        assert (row["reader"], row["sam"], row["sensor"]) == ("unknown", "unknown", "unknown")

        code, out, err = await fleet(config, "reactivate", DEVICE, capsys=capsys)
        assert code == 0, err
        assert "active" in out and "gateway: reinstated" in out
        await kiosk.screens.expect(ScreenName.IDLE)
        assert DEVICE not in gateway.registry.revoked
        code, out, _ = await fleet(config, "status", capsys=capsys)
        assert DEVICE in out and "online" in out

        code, out, _ = await fleet(config, "command", DEVICE, "ping", capsys=capsys)
        assert (code, out.strip()) == (0, f"{DEVICE}: ping done")


async def test_an_offline_kiosk_gets_the_document_when_it_returns(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    await register(config, DEVICE, OTHER_DEVICE)
    capsys.readouterr()
    state = agent_config(tmp_path / "state", certs, broker)
    async with running_kiosk(state) as kiosk:
        await kiosk.ready()
    code, _, err = await fleet(
        config, "deactivate", DEVICE, "--reason", "x", "--timeout", "0.5", capsys=capsys
    )
    assert code == EXIT_TIMEOUT
    assert f"{DEVICE} is offline since" in err and "the retained document waits for it" in err
    code, _, err = await fleet(
        config, "deactivate", OTHER_DEVICE, "--reason", "x", "--timeout", "0.2", capsys=capsys
    )
    assert code == EXIT_TIMEOUT and "has never connected" in err
    async with running_kiosk(state) as kiosk:
        await kiosk.screens.expect(ScreenName.DEACTIVATED)
    code, out, _ = await fleet(config, "status", "--device", DEVICE, "--json", capsys=capsys)
    row = json.loads(out)[0]
    assert row["deactivated"] and not row["pending"] and row["presence"] == "offline"


async def test_a_kiosk_refuses_a_key_it_never_pinned(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None, key=OTHER)
    await register(config, DEVICE)
    capsys.readouterr()
    async with running_kiosk(agent_config(tmp_path / "state", certs, broker)) as kiosk:
        await kiosk.ready()
        code, _, err = await fleet(config, "deactivate", DEVICE, "--reason", "x", capsys=capsys)
        assert code == EXIT_REJECTED and "unknown_key" in err
        assert not kiosk.agent.session.deactivated


async def test_usage_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    await register(config, DEVICE)
    capsys.readouterr()
    for args in (
        ["deactivate", "not a device", "--reason", "x"],
        ["deactivate", DEVICE, "--reason", "bad\nreason"],
    ):
        code, _, err = await fleet(config, *args, capsys=capsys)
        assert code == EXIT_USAGE and err.count("\n") == 1
    lines = config.read_text().splitlines()
    bad = ["signing_key = 1" if line.startswith("signing_key") else line for line in lines]
    (tmp_path / "bad.toml").write_text("\n".join(bad))
    code, _, err = await fleet(tmp_path / "bad.toml", "status", capsys=capsys)
    assert code == EXIT_USAGE and "admin.signing_key: must be a string (got a number)" in err
    with pytest.raises(FleetError):
        parse_config({"admin": {"signing_key": "k"}, "broker": {"host": "h"}}, tmp_path)


async def test_a_broker_that_is_down_is_one_clear_line(
    tmp_path: Path, certs: Certs, broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_fleet_config(tmp_path / "fleet", certs, broker, None)
    broker.stop()
    code, _, err = await fleet(config, "status", capsys=capsys)
    assert code == 1 and err.startswith("kiosk-fleet: cannot reach the broker")


def test_keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", str(tmp_path / "admin")]) == 0
    assert (tmp_path / "admin").stat().st_mode & 0o777 == 0o600
    assert b"PUBLIC KEY" in (tmp_path / "admin.pub").read_bytes()
    assert main(["keygen", str(tmp_path / "admin")]) == EXIT_USAGE
