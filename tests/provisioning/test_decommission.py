"""`kiosk-provision decommission`, the way back into service after a tamper, and the chain of
records `kiosk-fleet device show` prints and checks."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from common.roles import Role
from common.token import Token
from fleet.cli import main as fleet_main
from fleet.provisioning.handover import chain_of
from fleet.store.base import DeviceState
from tests.provisioning.conftest import INSTITUTION, KIOSK, SERIAL, Kiosk, failure, steps_of


def _fleet_toml(kiosk: Kiosk, tmp_path: Path) -> Path:
    pki = kiosk.fleet.pki
    (tmp_path / "x.pem").write_text("")
    path = tmp_path / "fleet.toml"
    path.write_text(
        f"""
[admin]
name = "ca-admin"

[broker]
host = "127.0.0.1"
ca_file = "x.pem"
cert_file = "x.pem"
key_file = "x.pem"

[store]
path = "{tmp_path / "fleet.sqlite3"}"

[ca]
cert_file = "{pki.device_ca.cert}"
key_file = "{pki.device_ca.key}"
admin_cert_file = "{pki.admin_ca.cert}"
"""
    )
    return path


def _show(config: Path) -> tuple[int, dict[str, Any], str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = fleet_main(["--config", str(config), "device", "show", KIOSK, "--json"])
    text = out.getvalue()
    text_out = io.StringIO()
    with contextlib.redirect_stdout(text_out):
        fleet_main(["--config", str(config), "devices", "show", KIOSK])
    return code, json.loads(text), text_out.getvalue()


def _live_certs(kiosk: Kiosk) -> list[str]:
    return [
        c.serial
        for c in kiosk.fleet.store.certificates(kind=Role.KIOSK.value, name=KIOSK)
        if c.revoked_at is None
    ]


async def test_decommission_revokes_destroys_wipes_and_records(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    assert (await kiosk.run("install"))[0] == 0
    assert _live_certs(kiosk)
    early = kiosk.fleet.issuer.issue_token(  # a token handed out before the decommission
        kiosk.fleet.store, serial=SERIAL, institution=INSTITUTION, technician="tech-1"
    )
    code, lines = await kiosk.run("decommission", "--reason", "kantor tutup")
    assert code == 0, lines
    assert steps_of(lines, "done") == ["unbind", "final_record", "destroy_keys", "wipe"]
    chain = chain_of(kiosk.fleet.store, KIOSK)
    assert [r["body"]["kind"] for r in chain] == ["handover", "decommission"]
    assert chain[1]["kiosk_sig"] is not None  # the kiosk's key still signed
    assert _live_certs(kiosk) == []  # revoked
    entry = kiosk.fleet.store.device(KIOSK)
    assert entry is not None and entry.state is DeviceState.DECOMMISSIONED
    with Token.open(kiosk.token) as token:
        assert token.key_labels() == []
    assert kiosk.config.state is not None
    assert list(kiosk.config.state.dir.iterdir()) == []  # its own state file went last
    assert list(kiosk.config.identity.dir.iterdir()) == []  # type: ignore[union-attr]
    # and the kiosk is refused: no new enrolment token for a decommissioned kiosk
    code, lines = await kiosk.run("install")
    assert code == 20
    assert "decommissioned" in failure(lines)["message_en"]
    token_file = tmp_path / "early.token"
    token_file.write_text(early.token)
    code, lines = await kiosk.run("install", "--enrolment-token-file", str(token_file))
    assert code == 20  # the token outlived the kiosk's service: refused at enrolment
    assert "decommissioned" in failure(lines)["message_en"]
    code, shown, text = _show(_fleet_toml(kiosk, tmp_path))
    assert code == 0
    assert shown["records_intact"] is True and len(shown["records"]) == 2
    assert "handover chain: 2 records, intact" in text


async def test_after_a_tamper_decommission_and_a_fresh_install_bring_it_back(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    assert (await kiosk.run("install"))[0] == 0
    first_cert = _live_certs(kiosk)
    # the tamper: the agent destroyed the token's keys, the fleet marked the kiosk and revoked it
    with Token.open(kiosk.token) as token:
        token.destroy_all()
    kiosk.fleet.store.set_device_state(KIOSK, DeviceState.TAMPERED)
    kiosk.fleet.issuer.revoke_device(kiosk.fleet.store, KIOSK, "tamper")
    code, lines = await kiosk.run(
        "decommission", "--reason", "tamper 2026-12-05", "--return-to-service"
    )
    assert code == 0, lines
    chain = chain_of(kiosk.fleet.store, KIOSK)
    assert chain[1]["kiosk_sig"] is None  # the key was gone: the technician's signature only
    assert chain[1]["body"]["reason"].startswith("return-to-service")
    entry = kiosk.fleet.store.device(KIOSK)
    assert entry is not None and entry.state is DeviceState.ACTIVE and not entry.bindings
    kiosk.mcu.latched = False  # the MCU's own latch: cleared with the escrowed key (self-test)
    code, lines = await kiosk.run("install")
    assert code == 0, lines
    results = {line["step"]: line["result"] for line in lines if line["event"] == "done"}
    assert results["mcu_key"]["mcu_key"] == "kept"  # SET_KEY is once in an MCU's life
    assert _live_certs(kiosk) and _live_certs(kiosk) != first_cert  # a new key, a new cert
    chain = chain_of(kiosk.fleet.store, KIOSK)
    assert [r["body"]["kind"] for r in chain] == ["handover", "decommission", "handover"]
    config = _fleet_toml(kiosk, tmp_path)
    code, shown, _ = _show(config)
    assert code == 0 and shown["records_intact"]


async def test_device_show_detects_a_changed_record(kiosk: Kiosk, tmp_path: Path) -> None:
    code, lines = await kiosk.run("install")
    assert code == 0, [line for line in lines if line["event"] == "failed"]
    assert (await kiosk.run("decommission"))[0] == 0
    db = sqlite3.connect(tmp_path / "fleet.sqlite3")
    (raw,) = db.execute("SELECT record FROM handover_record WHERE seq = 0").fetchone()
    changed = raw.replace("Kantor Cabang Semarang", "Kantor Cabang Solo")
    assert changed != raw
    db.execute("UPDATE handover_record SET record = ? WHERE seq = 0", (changed,))
    db.commit()
    db.close()
    code, shown, text = _show(_fleet_toml(kiosk, tmp_path))
    assert code == 5
    assert shown["records_intact"] is False
    assert shown["records"][0]["ok"] is False and shown["records"][1]["ok"] is False
    assert "BROKEN" in text


async def test_decommission_resumes_after_the_fleet_went_away(kiosk: Kiosk) -> None:
    assert (await kiosk.run("install"))[0] == 0
    await kiosk.fleet.stop("fleet")
    code, lines = await kiosk.run("decommission")
    assert code == 80 and failure(lines)["retry"]
    await kiosk.fleet.start("fleet")
    code, lines = await kiosk.run("decommission")
    assert code == 0, lines
    assert len(chain_of(kiosk.fleet.store, KIOSK)) == 2
