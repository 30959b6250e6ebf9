"""No personal data in the gateway's memory: after verifications of the canary personas, while
their answers are still kept for replay, no live object holds a NIK or a name in plain text; a
retry with the kiosk's key still gets the answer. A deliberately leaking build fails the scan.

The gateway runs in-process in a child (tests/gateway/memscan.py): this pytest process holds
the personas everywhere (the simulator's population, other tests' constants), the child never
imports them.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from kiosk_sim.device_token import device_env
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import PERSONAS
from tests.gateway.conftest import READERS, Certs, base_config, to_toml

ROOT = Path(__file__).resolve().parents[2]


def _masked(value: str, mask: bytes) -> str:
    return bytes(a ^ b for a, b in zip(value.encode(), mask, strict=False)).hex()


def _job(tmp: Path, certs: Certs, sim: RunningDukcapilSim) -> Path:
    doc = base_config(tmp, certs, sim.url, "sqlite", None)
    config = tmp / "gateway.toml"
    config.write_text(to_toml(doc))
    mask = secrets.token_bytes(128)
    device = certs.devices["KIOSK-B1"]  # dinsos-b: nine elements, names and address included
    reader_id, sam_id = READERS.get(device.name, ("RDR-X", "SAM-X"))
    job = {
        "config": str(config),
        "ca": str(certs.pki.server_ca.cert),
        "cert": str(device.cert),
        "key": str(device.key),
        "reader_id": reader_id,
        "sam_id": sam_id,
        "mask": mask.hex(),
        "niks": [_masked(p.nik, mask) for p in PERSONAS.values()],
        "needles": {
            f"{p.key}.{what}": _masked(value, mask)
            for p in PERSONAS.values()
            for what, value in (("nik", p.nik), ("name", p.full_name), ("kk", p.kk_number))
        },
    }
    path = tmp / "job.json"
    path.write_text(json.dumps(job))
    return path


async def _run(job: Path, *flags: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.gateway.memscan", str(job), *flags,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **device_env()},  # the kiosk's key is in the devices token
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def test_no_nik_or_name_in_any_live_object_while_answers_are_kept(
    tmp_path: Path, certs: Certs, sim: RunningDukcapilSim
) -> None:
    result = await _run(_job(tmp_path, certs, sim))
    assert result["hits"] == []
    assert sum(o.startswith("FOUND") for o in result["outcomes"]) >= 4  # answers with data
    assert result["kept"] == len(PERSONAS)  # every answer still within the replay window
    assert result["retry_same"]  # the kiosk's retry, with its key, gets the same answer...
    asked = [o for o in result["outcomes"] if o != "INVALID_NIK_FORMAT"]  # decided upstream
    assert sim.stats.queries == len(asked)  # ...without asking the upstream again


async def test_the_scan_finds_a_kept_plaintext(
    tmp_path: Path, certs: Certs, sim: RunningDukcapilSim
) -> None:
    result = await _run(_job(tmp_path, certs, sim), "--leak")
    found = {hit.split(" ")[0] for hit in result["hits"]}
    assert {"ayu.nik", "ayu.name"} <= found, result["hits"]


@pytest.fixture(autouse=True)
def _no_personas_in_the_child() -> None:
    """The child must not import the personas (the scan would find them there)."""
    text = (ROOT / "tests" / "gateway" / "memscan.py").read_text()
    assert "simulators" not in text and "conftest" not in text
