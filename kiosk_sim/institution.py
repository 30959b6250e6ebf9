"""The institution's service in the simulated stack: the library's member registry (data balikan).

It listens with TLS on loopback with a server certificate from the platform's server CA and
accepts the kiosks' client certificates (the device CA); its register and log are in the run
folder's `institution/`, where the privacy scan reads them. The agent's [balikan] section
points at it.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.tls import server_context
from kiosk_sim.pki import Pki
from simulators.institution import RunningInstitutionSim, start_institution_sim

# What the library's PKS lets the kiosk hand over (all among the gateway's elements for it).
BALIKAN_ELEMENTS = ("nik", "nama_lengkap", "tanggal_lahir")
LABEL_ID = "Nomor anggota perpustakaan"
LABEL_EN = "Library member number"


async def start_institution(run_dir: Path, pki: Pki) -> RunningInstitutionSim:
    """The simulated member registry, listening on a free loopback port."""
    server = pki.issue_server("institution")
    ctx = server_context(server.cert, server.key, [pki.device_ca.cert])
    return await start_institution_sim(run_dir / "institution", ctx)


def agent_section(institution: RunningInstitutionSim, pki: Pki, timeout: float) -> str:
    """The agent's [balikan] section for the simulated registry."""
    return f"""
[balikan]
url = {json.dumps(institution.url)}
ca_file = {json.dumps(str(pki.server_ca.cert))}
elements = {json.dumps(list(BALIKAN_ELEMENTS))}
label_id = {json.dumps(LABEL_ID)}
label_en = {json.dumps(LABEL_EN)}
timeout = {timeout}
"""
