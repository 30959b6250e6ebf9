"""`kiosk-provision install` from nothing: every step, the record at the fleet, resumption."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from fleet.provisioning.handover import chain_of
from protocol import handover as codec
from provisioning import cli
from tests.provisioning.conftest import KIOSK, Kiosk, failure, steps_of

ALL = ["preflight", "enrol", "bind_hardware", "bind_sam", "mcu_key", "selftest", "handover"]


async def test_install_from_nothing(kiosk: Kiosk) -> None:
    code, lines = await kiosk.run("install")
    assert code == 0, lines
    assert steps_of(lines, "done") == ALL
    results = {line["step"]: line["result"] for line in lines if line["event"] == "done"}
    assert results["selftest"]["results"] == {
        "card": "pass",
        "finger": "pass",
        "indicators": "pass",
        "tamper": "pass",
        "mcu": "pass",
        "gateway": "pass",
        "broker": "pass",
    }
    assert kiosk.fleet.health_calls == 1  # the gateway saw the kiosk's new certificate
    assert kiosk.mcu.key is not None and not kiosk.mcu.latched  # set, and the test's latch cleared
    assert kiosk.registered[0]["sam_serial"] == "SAM-0001"
    # the record: at the fleet, countersigned, chained, and kept on the kiosk with its PDF
    chain = chain_of(kiosk.fleet.store, KIOSK)
    assert len(chain) == 1
    pki = kiosk.fleet.pki
    device_ca = x509.load_pem_x509_certificate(pki.device_ca.cert.read_bytes())
    admin_ca = x509.load_pem_x509_certificate(pki.admin_ca.cert.read_bytes())
    entries = codec.check_chain(chain, device_ca=device_ca, admin_ca=admin_ca)
    assert entries[0].problems == ()
    body = chain[0]["body"]
    assert body["technician"] == "tech-1" and body["representative"] == "PEG-000123"
    assert body["bindings"]["sam_serial"] == "SAM-0001"
    assert body["bindings"]["mcu_key"] == "set"
    assert body["cert_fingerprint"] == results["enrol"]["cert_fingerprint"]
    kept = json.loads(Path(results["handover"]["file"]).read_text())
    assert codec.record_hash(kept) == entries[0].hash
    assert Path(results["handover"]["pdf"]).read_bytes()[:4] == b"%PDF"
    # the escrowed key is the MCU's
    from fleet.provisioning.handover import handover_store

    assert handover_store(kiosk.fleet.store).escrowed_mcu_key(KIOSK) == kiosk.mcu.key


async def test_running_again_changes_nothing(kiosk: Kiosk) -> None:
    assert (await kiosk.run("install"))[0] == 0
    code, lines = await kiosk.run("install")
    assert code == 0
    assert all(line["again"] for line in lines if line["event"] == "done")
    assert len(chain_of(kiosk.fleet.store, KIOSK)) == 1


async def test_a_power_cut_between_two_steps_resumes(
    kiosk: Kiosk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies as mcu_key begins (bind_sam recorded): the next run continues."""

    async def power_cut(session: object) -> dict[str, object]:
        raise SystemExit("power cut")

    cut = tuple(replace(s, run=power_cut) if s.name == "mcu_key" else s for s in cli.INSTALL)
    with monkeypatch.context() as patched, contextlib.suppress(SystemExit):
        patched.setattr(cli, "INSTALL", cut)
        await kiosk.run("install")
    assert kiosk.config.state is not None
    state = json.loads((kiosk.config.state.dir / "provision-install.json").read_text())
    assert list(state["steps"]) == ["preflight", "enrol", "bind_hardware", "bind_sam"]
    code, lines = await kiosk.run("install")
    assert code == 0, lines
    again = [line["step"] for line in lines if line["event"] == "done" and line["again"]]
    assert again == ["preflight", "enrol", "bind_hardware", "bind_sam"]
    assert steps_of(lines, "done")[4:] == ["mcu_key", "selftest", "handover"]
    assert len(kiosk.registered) == 1  # the hardware was not registered twice


async def test_status_and_exit_codes(kiosk: Kiosk) -> None:
    await kiosk.run("install")
    code, lines = await kiosk.run("status")
    assert code == 0
    assert sorted(lines[0]["steps"]) == sorted(ALL)
    code, lines = await kiosk.run("exit-codes")
    assert {line["exit_code"] for line in lines} >= {0, 10, 20, 30, 40, 50, 60, 70, 80}


async def test_a_failed_step_names_itself_and_its_exit_code(kiosk: Kiosk) -> None:
    code, lines = await kiosk.run("install", pcscd_ready=lambda: False)
    assert code == 10
    error = failure(lines)
    assert error["code"] == "PCSCD_MISSING"
    assert "pcscd" in error["message_id"] and "pcscd" in error["message_en"]


async def test_a_certificate_whose_key_is_gone_is_enrolled_again(kiosk: Kiosk) -> None:
    """The certificate file survived but the token lost its key: enrol asks for a new token."""
    assert (await kiosk.run("install"))[0] == 0
    first = kiosk.config.identity.cert_file.read_bytes()  # type: ignore[union-attr]
    from common.token import Token

    with Token.open(kiosk.token) as token:
        token.destroy_all()
    code, lines = await kiosk.run("install", "--restart")
    assert code == 0, lines
    assert kiosk.config.identity.cert_file.read_bytes() != first  # type: ignore[union-attr]
    assert len(chain_of(kiosk.fleet.store, KIOSK)) == 2  # a second handover record
