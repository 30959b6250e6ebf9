"""kiosk-provision's TLS as the technician, with the technician's key in a token of a module
that holds other tokens first: OpenSSL hands the provider the server's public key to verify
with, kept on the module's first token, for which the provider needs a PIN (never asking on the
terminal, where a technician, or the demo, would wait)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk_sim.softhsm import SoftHsm, softhsm_module

CHILD = Path(__file__).with_name("tech_tls_child.py")
ROOT = CHILD.parents[2]


def _first_slot(hsm: SoftHsm) -> str:
    shown = subprocess.run(
        ["softhsm2-util", "--show-slots"],
        env={**os.environ, **hsm.env()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    labels = [ln.split(":", 1)[1].strip() for ln in shown.splitlines() if "Label:" in ln]
    return labels[0]


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[SoftHsm, Path]:
    """A module whose first token is not the technician's (same PIN, as in the simulation)."""
    for attempt in range(12):  # the slots' order follows the token folders' random names
        hsm = SoftHsm(tmp_path / f"softhsm-{attempt}")
        hsm.init_token("devices", "1234")
        tech = hsm.init_token("tech-test", "1234")
        if _first_slot(hsm) != "tech-test":
            return hsm, tech.pin_file
    pytest.fail("the technician's token came first every time")


@pytest.mark.parametrize("mode", ["pin", "no-pin"])
def test_the_technicians_tls_verifies_the_server_with_the_tokens_pin_file(
    tokens: tuple[SoftHsm, Path], tmp_path: Path, mode: str
) -> None:
    hsm, pin_file = tokens
    args = [str(tmp_path), str(softhsm_module()), "tech-test", str(pin_file), mode]
    done = subprocess.run(
        [sys.executable, str(CHILD), *args],
        env={**os.environ, **hsm.env(), "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,  # a PIN prompt reads nothing and fails, not waits
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    prompted = "Enter PIN for PKCS#11 Token" in done.stderr
    if mode == "pin":
        assert done.stdout == "verified\n" and not prompted, done.stdout + done.stderr[-2000:]
    else:  # what kiosk-provision did: a prompt on the terminal (there the demo waited)
        assert prompted, done.stdout + done.stderr[-2000:]
