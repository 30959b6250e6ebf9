"""No personal data at rest: 1,000 verifications with canary personas through the real CLI, then
a scan of every file the gateway process wrote. A deliberately leaking build must fail the scan.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from protocol.messages import encode_replay_key
from simulators.dukcapil import RunningDukcapilSim
from simulators.personas import PERSONAS
from tests.gateway.conftest import Certs, base_config, new_request_id, to_toml
from tests.privacy.scan import files_under, scan_tree

NEEDLES = {
    f"{p.key}.{what}": value
    for p in PERSONAS.values()
    for what, value in (("nik", p.nik), ("name", p.full_name), ("kk", p.kk_number))
}
KEYS = list(PERSONAS)


def _config(run: Path, certs: Certs, sim: RunningDukcapilSim) -> Path:
    etc = run.parent / f"{run.name}-etc"  # inputs (config, secrets) live outside the scanned tree
    etc.mkdir()
    doc = base_config(etc, certs, sim.url, "sqlite", None)
    doc["store"]["path"] = str(run / "state" / "gateway.sqlite3")
    doc["logging"] = {
        "access": str(run / "log" / "access.log"),
        "main": str(run / "log" / "main.log"),
    }
    doc["antiscrape"] = {"burst_limit": 0, "device_burst_limit": 0}
    path = etc / "gateway.toml"
    path.write_text(to_toml(doc))
    return path


@asynccontextmanager
async def gateway_process(module: str, run: Path, config: Path) -> AsyncIterator[int]:
    """Run the gateway CLI as its own process, with its own temp, home and working dirs."""
    for sub in ("tmp", "home", "cwd"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(run / "tmp"), "HOME": str(run / "home")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--config", str(config),
        cwd=run / "cwd", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = await proc.stdout.readline()
        assert line.startswith(b"kiosk-gateway listening on "), line
        yield int(line.rsplit(b":", 1)[1])
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


async def _drive(port: int, certs: Certs, sim: RunningDukcapilSim, n: int) -> dict[str, int]:
    """n verifications cycling through every persona, plus returns, bad input and faults."""
    base = f"https://127.0.0.1:{port}"
    counts: dict[str, int] = {}
    sessions = {
        dev: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                ssl=certs.pki.client_context(certs.devices[dev]), limit=20
            )
        )
        for dev in ("KIOSK-A2", "KIOSK-B1")
    }

    async def post(dev: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        kwargs: dict[str, Any] = {"json": body} if raw is None else {"data": raw}
        headers = {"Content-Type": "application/json"}
        async with sessions[dev].post(base + path, headers=headers, **kwargs) as resp:
            data = await resp.json()
            key = data.get("outcome") or data.get("error", {}).get("code") or "RETURN"
            counts[key] = counts.get(key, 0) + 1
            return data

    def verification(i: int) -> dict[str, Any]:
        return {
            "request_id": new_request_id(),
            "nik": PERSONAS[KEYS[i % len(KEYS)]].nik,
            "match": {"finger": "right_index", "score": 150, "tries": 1},
            "reader": {"reader_id": "RDR-X", "sam_id": "SAM-X"},
            "replay_key": encode_replay_key(secrets.token_bytes(32)),
        }

    try:
        for start in range(0, n, 50):
            await asyncio.gather(
                *(
                    post(
                        "KIOSK-A2" if i % 10 == 0 else "KIOSK-B1",
                        "/v1/verifications",
                        verification(i),
                    )
                    for i in range(start, min(n, start + 50))
                )
            )
        for p in PERSONAS.values():
            nik = p.nik.encode()
            await post(
                "KIOSK-B1",
                "/v1/returns",
                {
                    "request_id": new_request_id(),
                    "nik": p.nik,
                    "return_number": "ANGGOTA-7",
                    "replay_key": encode_replay_key(secrets.token_bytes(32)),
                },
            )
            await post(
                "KIOSK-B1",
                "/v1/verifications",
                raw=b'{"nik": "' + nik + b'", "name": "' + p.full_name.encode() + b'"',
            )
            await post("KIOSK-B1", "/v1/verifications", raw=b'{"' + nik + b'": 1}')
            await post("KIOSK-B1", "/v1/verifications", {**verification(0), "nik": p.nik + "\n"})
        ayu = PERSONAS["ayu"].nik  # serial 0003: 0004 and 0005 make a sequential run
        for serial in ("0004", "0005"):
            await post(
                "KIOSK-B1", "/v1/verifications", {**verification(0), "nik": ayu[:12] + serial}
            )
        sim.set_fault("garbage", count=3)
        for i in range(1, 4):  # not ayu: her prefix is now refused as sequential
            await post("KIOSK-B1", "/v1/verifications", verification(i))
    finally:
        for s in sessions.values():
            await s.close()
    return counts


async def test_no_canary_reaches_any_file(
    tmp_path: Path, certs: Certs, sim: RunningDukcapilSim
) -> None:
    run = tmp_path / "run"
    config = _config(run, certs, sim)
    async with gateway_process("gateway.cli", run, config) as port:
        counts = await _drive(port, certs, sim, 1000)
    assert sum(counts.get(o, 0) for o in ("FOUND", "FOUND_DECEASED", "NOT_FOUND")) > 500
    assert counts["SERVICE_UNAVAILABLE"] == 3 and counts["BAD_REQUEST"] == 3 * len(PERSONAS)
    assert counts["PATTERN_BLOCKED"] >= 1
    written = files_under([run])
    names = {f.name for f in written}
    assert {"access.log", "main.log", "gateway.sqlite3"} <= names
    access = (run / "log" / "access.log").read_text().splitlines()
    assert len(access) >= 1000
    hits = scan_tree([run], NEEDLES)
    assert hits == [], "\n".join(map(str, hits[:20]))


async def test_a_leaking_build_fails_the_scan(
    tmp_path: Path, certs: Certs, sim: RunningDukcapilSim
) -> None:
    run = tmp_path / "run"
    config = _config(run, certs, sim)
    async with gateway_process("tests.gateway.leaky_gateway", run, config) as port:
        await _drive(port, certs, sim, 14)
    hits = scan_tree([run], NEEDLES)
    forms = {(h.path.name, h.form) for h in hits}
    assert ("main.log", "plain") in forms
    assert ("main.log", "base64") in forms
    assert {h.label for h in hits} >= {"ayu.nik", "ayu.name", "darmo.nik"}
