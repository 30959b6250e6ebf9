"""agent.toml of the simulated kiosk: simulated devices, the gateway, its [identity] (a SoftHSM
token, EST on the fleet service) and the fleet's sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk_sim.enrolment import enrolment_token_file
from kiosk_sim.institution import agent_section

if TYPE_CHECKING:
    from kiosk_sim.stack import Stack


def write_agent_config(stack: Stack) -> Path:
    """Write the agent's configuration in the run folder; its path."""
    from kiosk_sim.stack import DEVICE_ID, INSTITUTION, READER_ID, SAM_ID, SERIAL

    assert stack.pki is not None and stack.token is not None
    paths = stack.devices.paths
    t = stack.timeouts
    config = f"""\
[device]
id = {json.dumps(DEVICE_ID)}

[reader]
reader_id = {json.dumps(READER_ID)}
sam_id = {json.dumps(SAM_ID)}
card_reader = {json.dumps(paths.card_reader)}
sam_reader = {json.dumps(paths.sam_reader)}

[fingerprint]
port = {json.dumps(paths.fingerprint_port)}
baud = {stack.baud}

[gateway]
url = "https://127.0.0.1:{stack.gateway_port}"
ca_file = {json.dumps(str(stack.pki.server_ca.cert))}

[identity]
token_module = {json.dumps(str(stack.token.module))}
token_label = {json.dumps(stack.token.label)}
pin_file = {json.dumps(str(stack.token.pin_file))}
est_url = "{stack.est_url}/.well-known/est"
est_ca_file = {json.dumps(str(stack.pki.server_ca.cert))}
institution = "{INSTITUTION}"
serial = "{SERIAL}"
dir = {json.dumps(str(stack.identity_dir))}
enrolment_token_file = {json.dumps(str(enrolment_token_file(stack.run_dir)))}
retry_min = 2.0
retry_max = 30.0

[timeouts]
card_read = {t.card_read}
finger_wait = {t.finger_wait}
query = {t.query}
result_display = {t.result_display}

[ui]
host = "127.0.0.1"
port = {stack.ui_port}
help_contact = "Loket layanan (simulasi), tel. 021-555-0100"
voice_dir = {json.dumps(str(stack.run_dir / "agent" / "voice"))}

[log]
level = "{stack.log_level}"
"""
    if stack.fleet is not None and stack.broker is not None:
        config += stack.fleet.agent_sections(
            stack.broker,
            stack.run_dir / "agent" / "state",
            province="33",
            supervisor_port=stack.mcu.port_path if stack.mcu is not None else None,
        )
    if stack.institution is not None:
        config += agent_section(stack.institution, stack.pki, t.balikan)
    path = stack.run_dir / "agent" / "agent.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    return path
