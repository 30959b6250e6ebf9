"""Issue 17's "Done when": the SAM oracle from outside no longer reads anything, while the
kiosk's own session still reads the card.

The rig is real middleware: a private pcscd (vpcd readers), the card and the SAM in its slots,
the SAM bound by provisioning.sam_bind to a host key in a SoftHSM token. The attack is
tests/hardware/oracle_attack.py, a standalone pyscard script written from the protocol document,
run as a separate process: as another user (`nobody`, through setpriv) it cannot reach pcscd at
all; as a process of the kiosk's own user without the host key, the SAM refuses it with 6982
(6300 for a guessed key). The kiosk's session, another process using the token's key, reads.
Every PC/SC client here is a child process: this one keeps its libpcsclite for the session's
pcscd (tests/integration/conftest.py).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from common.token import Token, TokenConfig
from edge_agent.config import parse_config
from hardware.card.apdu import ApduTransport
from kiosk_sim.pcscd import PcscdError, PcscdProcess
from provisioning.sam_bind import bind_sam
from simulators.card import (
    DirectTransport,
    VirtualSam,
    build_identity_file,
    card_for,
    identity_values,
)
from simulators.personas import persona
from simulators.vpcd import VirtualSlot
from tests.hardware.sam_keys import HOST_KEY
from tests.softhsm import TokenPool

pytestmark = pytest.mark.middleware

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
ATTACK = Path(__file__).with_name("oracle_attack.py")
KIOSK_READ = """
import json, sys
from pathlib import Path
from common.token import TokenConfig
from edge_agent.wiring.card_reader import TokenHostKey
from hardware.card.ktpel import KtpelProfile
from hardware.card.pcsc import PcscCardReader
from hardware.card.reader import IdentityField
from simulators.personas import persona
key = TokenHostKey(TokenConfig(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])), sys.argv[4])
reader = PcscCardReader(sys.argv[5], sys.argv[6], KtpelProfile(host_key=key), apdu_timeout=5.0)
contents = reader.read()
nik_ok = contents.identity[IdentityField.NIK] == persona("ayu").nik.encode()
print(json.dumps({"fields": len(contents.identity), "templates": len(contents.templates),
                  "nik_ok": nik_ok}))
contents.wipe()
"""


@dataclass
class Rig:
    pcscd: PcscdProcess
    sam_slot: VirtualSlot
    sam: VirtualSam
    token: TokenConfig

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.pcscd.env}

    def attack(self, *, user: str | None = None, host_key: bytes | None = None) -> dict[str, Any]:
        """Run the attack script as a separate process (as `user` if given); its report."""
        cmd = [sys.executable, str(ATTACK), *self.pcscd.reader_names]
        if host_key is not None:
            cmd += ["--host-key", host_key.hex()]
        if user is not None:
            who = pwd.getpwnam(user)
            ids = [f"--reuid={who.pw_uid}", f"--regid={who.pw_gid}", "--clear-groups"]
            cmd = ["setpriv", *ids, *cmd]
        done = subprocess.run(
            cmd, env=self.env(), capture_output=True, text=True, timeout=60, check=False, cwd="/"
        )
        assert done.returncode == 0, done.stderr[-2000:]
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return report

    def kiosk_reads(self) -> dict[str, Any]:
        """The kiosk's own session (another process, the host key in the token): its summary."""
        t = self.token
        args = [str(t.module), t.label, str(t.pin_file), "kiosk-sam-host", *self.pcscd.reader_names]
        done = subprocess.run(
            [sys.executable, "-c", KIOSK_READ, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return summary


class InProcessSlot:
    """The technician's access to the SAM for bind_sam, in process (the slot is idle)."""

    def __init__(self, sam: VirtualSam) -> None:
        self.sam = sam

    def with_sam(self, fn: Callable[[ApduTransport], T]) -> T:
        return fn(DirectTransport(self.sam))


AGENT_TOML = """
[device]
id = "kiosk-0001"
[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"
[gateway]
url = "https://127.0.0.1:8443"
ca_file = "ca.pem"
cert_file = "device.crt"
key_file = "device.key"
"""


@pytest.fixture(scope="module")
def rig(softhsm: TokenPool) -> Iterator[Rig]:
    # a folder every user may pass, so that only pcscd's own folder (0700) keeps `nobody` out
    top = Path(tempfile.mkdtemp(prefix="sam-oracle-"))
    top.chmod(0o755)
    try:
        daemon = PcscdProcess(top / "pcscd").start()
    except PcscdError as err:
        shutil.rmtree(top, ignore_errors=True)
        pytest.skip(str(err))
    card_slot, sam_slot = VirtualSlot(daemon.card_port), VirtualSlot(daemon.sam_port)
    sam = VirtualSam(state_file=top / "sam" / "state.json")
    token = softhsm.take()
    config = parse_config(tomllib.loads(AGENT_TOML), base=top)
    with Token.open(token) as opened:
        bind_sam(config, opened, access=InProcessSlot(sam))
    sam_slot.insert(sam)
    card_slot.insert(card_for("ayu"))
    yield Rig(daemon, sam_slot, sam, token)
    card_slot.close()
    sam_slot.close()
    daemon.stop()
    shutil.rmtree(top, ignore_errors=True)


def test_a_process_of_the_kiosks_user_without_the_host_key_reads_nothing(rig: Rig) -> None:
    refused = rig.attack()
    assert refused["stage"] == "init_auth" and refused["sw"] == "6982"
    assert "identity_bytes" not in refused
    guessed = rig.attack(host_key=os.urandom(16))
    assert guessed["stage"] == "authenticate_host" and guessed["sw"] == "6300"
    assert rig.sam.binding.bound
    assert rig.kiosk_reads() == {"fields": 18, "templates": 2, "nik_ok": True}


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root (setpriv)")
def test_another_user_cannot_reach_pcscd(rig: Rig) -> None:
    outside = rig.attack(user="nobody")
    assert outside["stage"] in ("pcscd", "readers")
    assert outside.get("readers", 0) == 0 and "identity_bytes" not in outside
    assert rig.kiosk_reads()["nik_ok"]


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root (setpriv)")
def test_control_pcscd_as_shipped_and_the_script_that_works(rig: Rig) -> None:
    """Not vacuous: with pcscd's folder open as pcscd leaves it (0755), `nobody` reaches the
    SAM; it still reads nothing without the host key, and the same script holding the key of a
    SAM bound to it reads the identity file, so the script is a working reader."""
    folder = rig.pcscd.run_dir
    folder.chmod(0o755)
    try:
        refused = rig.attack(user="nobody")
        assert refused["stage"] == "init_auth" and refused["sw"] == "6982"
        rig.sam_slot.remove()
        rig.sam_slot.insert(VirtualSam(host_key=HOST_KEY))  # a SAM bound to a key we know
        try:
            stolen = rig.attack(user="nobody", host_key=HOST_KEY)
            size = len(build_identity_file(identity_values(persona("ayu"))))
            assert stolen == {"stage": "read", "sw": "9000", "identity_bytes": size}
        finally:
            rig.sam_slot.remove()
            rig.sam_slot.insert(rig.sam)
    finally:
        folder.chmod(0o700)
    assert rig.kiosk_reads()["nik_ok"]
