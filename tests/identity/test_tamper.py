"""Tamper under the shipped unit's read-only /etc/kiosk: the token key is destroyed for real.

The agent runs in a child process in a private mount namespace where its configuration folder
(agent.toml, the token's PIN file, the CA certificates) is a read-only bind mount, as
`ReadOnlyPaths=/etc/kiosk` makes it; its state folder and the token's store stay writable.
C_DestroyObject needs no write access to any file of the agent: afterwards the token holds no
key and the kiosk's certificate and URI PEM no longer make a TLS connection.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import TlsFileError
from common.tls import client_context
from common.token import Token
from edge_agent.identity.device import DeviceIdentity, token_config
from tests.identity.conftest import KIOSK, Est, MakeConfig

ROOT = Path(__file__).resolve().parents[2]


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


async def _line(proc: asyncio.subprocess.Process, word: str) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise AssertionError(f"the agent ended before {word}")
            if raw.decode().startswith(word):
                return raw.decode().strip()


@pytest.mark.skipif(not _can_unshare(), reason="needs unshare -m (root, mount namespaces)")
async def test_tamper_destroys_the_token_key_under_a_read_only_etc(
    est: Est, identity_config: MakeConfig, tmp_path: Path
) -> None:
    etc = tmp_path / "etc-kiosk"
    etc.mkdir()
    state = tmp_path / "state"
    config = identity_config(dir=state / "identity")
    pin = etc / "token.pin"
    shutil.copy(config.pin_file, pin)
    ca = etc / "platform-ca.pem"
    shutil.copy(est.pki.server_ca.cert, ca)
    assert config.enrolment_token_file is not None
    config.enrolment_token_file.write_text(await est.token())
    first = DeviceIdentity(config, KIOSK)  # enrolled, as a technician's first start does
    await first.start()
    first.close()
    (etc / "agent.toml").write_text(
        f"""
[device]
id = "{KIOSK}"
[reader]
reader_id = "RDR-0001"
sam_id = "SAM-0001"
[gateway]
url = "https://127.0.0.1:9"
ca_file = "{ca}"
[state]
dir = "{state}"
[identity]
token_module = "{config.token_module}"
token_label = "{config.token_label}"
pin_file = "{pin}"
est_url = "{config.est_url}"
est_ca_file = "{ca}"
institution = "{config.institution}"
serial = "{config.serial}"
"""
    )
    script = (
        f'mount --bind "{etc}" "{etc}" && mount -o remount,bind,ro "{etc}" && '
        f'(touch "{etc}/probe" 2>/dev/null && exit 97; true) && '
        f'exec "{sys.executable}" -m tests.identity.agent_proc "{etc}/agent.toml"'
    )
    proc = await asyncio.create_subprocess_exec(
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _line(proc, "READY")
        with Token.open(token_config(config)) as token:
            assert token.key_labels() == [first.key_label]
        proc.send_signal(signal.SIGUSR1)
        line = await _line(proc, "TAMPERED")
        assert f"token:{first.key_label}" in line
        with Token.open(token_config(config)) as token:
            assert token.key_labels() == []
        with pytest.raises(TlsFileError, match=r"token key named in device\.key"):
            client_context(ca, config.cert_file, config.key_file)
    finally:
        if proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(15):
                await proc.wait()
    assert proc.returncode == 0
    assert sorted(p.name for p in etc.iterdir()) == ["agent.toml", "platform-ca.pem", "token.pin"]
