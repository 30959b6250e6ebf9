"""The kiosk's enrolment in the simulation, as on site: its SoftHSM token, and a technician who
gets a certificate (`kiosk-fleet technician add`) and asks for a single-use enrolment token
(`kiosk-fleet enrol-token`), which the kiosk's agent then uses once (EST simpleenroll)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from common.tls import write_token_provider_config
from common.token import TokenConfig
from kiosk_sim.device_token import adopt_softhsm
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.pki import Pki
from kiosk_sim.softhsm import SoftHsm

KIOSK_LABEL = "kiosk-sim"  # the label of the kiosk's SoftHSM token
TECHNICIAN = "tech-sim"


class EnrolmentError(RuntimeError):
    """The simulated technician could not get an enrolment token."""


def make_kiosk_token(folder: Path) -> tuple[SoftHsm, TokenConfig]:
    """A fresh SoftHSM in `folder` with the kiosk's token (and the technician's: one PIN for
    both, so that the technician's tool may log in to either); SOFTHSM2_CONF set here."""
    shutil.rmtree(folder, ignore_errors=True)
    softhsm = SoftHsm(folder)
    token = softhsm.init_token(KIOSK_LABEL)
    pin = token.pin_file.read_text().strip()
    softhsm.init_token(TECHNICIAN, pin)
    adopt_softhsm(softhsm, pin)  # the simulated devices' keys (kiosk-sim's own process)
    os.environ.update(softhsm.env())  # the agent (a child) and this process's probes read it
    return softhsm, token


def enrolment_token_file(run_dir: Path) -> Path:
    """Where the technician leaves the kiosk's enrolment token."""
    return run_dir / "agent" / "enrolment.token"


async def hand_enrolment_token(
    fleet: FleetSetup,
    pki: Pki,
    softhsm: SoftHsm,
    run_dir: Path,
    est_url: str,
    serial: str,
    institution: str,
) -> Path:
    """The technician's certificate (once, its key in their token), then a fresh single-use
    token in the kiosk's file."""
    folder = run_dir / "technician"
    folder.mkdir(parents=True, exist_ok=True)
    pin = softhsm.folder / f"{TECHNICIAN}.pin"
    conf = write_token_provider_config(folder / "openssl-pkcs11.cnf", softhsm.module, pin)
    env = {**softhsm.env(), "OPENSSL_CONF": str(conf)}
    paths = folder / "paths.json"
    if paths.exists():
        made = json.loads(paths.read_text())
    else:
        code, out = await fleet.fleet(
            "technician",
            "add",
            TECHNICIAN,
            "--out",
            str(folder),
            "--token-module",
            str(softhsm.module),
            "--token-label",
            TECHNICIAN,
            "--pin-file",
            str(pin),
            "--json",
            env=env,
        )
        if code != 0:
            raise EnrolmentError(f"kiosk-fleet technician add failed: {out}")
        made = json.loads(out)
        paths.write_text(json.dumps({"cert": made["cert"], "key": made["key"]}))
    code, out = await fleet.fleet(
        "enrol-token",
        serial,
        "--institution",
        institution,
        "--url",
        est_url,
        "--cert",
        made["cert"],
        "--key",
        made["key"],
        "--ca",
        str(pki.server_ca.cert),
        "--json",
        env=env,
    )
    if code != 0:
        raise EnrolmentError(f"kiosk-fleet enrol-token failed: {out}")
    token_file = enrolment_token_file(run_dir)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(json.loads(out)["token"] + "\n")
    token_file.chmod(0o600)
    return token_file
