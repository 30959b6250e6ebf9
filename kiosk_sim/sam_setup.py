"""The simulated kiosk's SAM bound to its token's host key at start, as kiosk-provision's SAM
step does on a real kiosk (provisioning.sam_bind), so that every flow of the stack authenticates.

The binding runs in a child process: libpcsclite reads its socket's path once per process and
SoftHSM its token directory once, so this process keeps neither. A SAM still bound to the key of
an earlier run (a run folder used again, its token made afresh) is reset by its issuer first.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from kiosk_sim.devices import SimulatedDevices
from kiosk_sim.softhsm import SoftHsm

_log = logging.getLogger(__name__)

_CHILD = """
import json, sys
from pathlib import Path
from common.token import Token, TokenConfig
from edge_agent.config import load_config
from provisioning.errors import ProvisionError
from provisioning.sam_bind import bind_sam
config = load_config(Path(sys.argv[1]))
i = config.identity
try:
    with Token.open(TokenConfig(i.token_module, i.token_label, i.pin_file)) as token:
        print(json.dumps({"ok": bind_sam(config, token).as_json()}))
except ProvisionError as err:
    print(json.dumps({"error": err.as_json()}))
"""


class SamSetupError(RuntimeError):
    """The simulated kiosk's SAM could not be bound."""


def _bind_once(agent_config: Path, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(agent_config)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise SamSetupError(f"binding the SAM failed: {done.stderr.strip()[-2000:]}")
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def bind_kiosk_sam(
    devices: SimulatedDevices, agent_config: Path, softhsm: SoftHsm | None = None
) -> dict[str, object]:
    """Bind the simulated SAM to the host key in the agent's token (made there if need be)."""
    env = {**devices.pcscd.env, **(softhsm.env() if softhsm is not None else {})}
    answer = _bind_once(agent_config, env)
    error = answer.get("error")
    if isinstance(error, dict) and error.get("code") == "SAM_BOUND_ELSEWHERE":
        _log.info("the simulated SAM is bound to an earlier run's key: the issuer resets it")
        devices.issuer_reset_sam()
        answer = _bind_once(agent_config, env)
        error = answer.get("error")
    if error is not None:
        raise SamSetupError(f"binding the SAM failed: {error}")
    binding = answer["ok"]
    assert isinstance(binding, dict)
    _log.info("simulated SAM bound to the kiosk's token (%s)", binding.get("key_label"))
    return binding
