"""`kiosk-fleet serve` as a process on the fleet.toml a simulation writes (kiosk-sim up does
this): ready once subscribed, the dashboard's /healthz, a kiosk's report stored, a clean stop on
SIGTERM, and `kiosk-fleet alerts` reading the same store."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from fleet.config import load_config
from fleet.store import open_store
from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.fleet_service import FleetServiceProcess
from protocol.outcomes import Outcome
from tests.fleet.service.helpers import kiosks, published
from tests.mqtt.fixtures import Certs


async def test_the_service_process_of_a_simulation(
    tmp_path: Path, broker: MosquittoBroker, certs: Certs
) -> None:
    setup = FleetSetup.create(tmp_path / "fleet", certs.pki, broker)
    process = FleetServiceProcess(setup.fleet_config, tmp_path / "fleet" / "service.log")
    await process.start()
    (kiosk,) = await kiosks(broker, certs, 1, "KIOSK-P")
    try:
        assert process.dashboard_url is not None
        assert process.dashboard_url.startswith("http://127.0.0.1:")
        await published([kiosk.usage("2026-12-05", {Outcome.FOUND: 4})])
        async with aiohttp.ClientSession() as http:
            # the report is in once /healthz counts it (the service commits within ms)
            for _ in range(200):
                async with http.get(process.dashboard_url + "healthz") as resp:
                    health = await resp.json()
                if health["received"] >= 1:
                    break
        assert health["status"] == "ok" and health["backend"] == "sqlite"
        assert health["received"] == 1 and health["client_id"] == "fleet-sim-1"
        # core dumps off (RLIMIT_CORE 0: memory never reaches a disk)
        pid = process.pid
        assert pid is not None
        limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
        core = next(line for line in limits if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"]
    finally:
        kiosk.stop()
        assert await process.stop() == 0
    config = load_config(setup.fleet_config)
    store = open_store(config.store)
    try:
        assert [d.total for d in store.usage(device=kiosk.device)] == [4]
    finally:
        store.close()
    code, out = await setup.fleet("alerts")
    assert (code, out) == (0, "no alerts")
    log = (tmp_path / "fleet" / "service.log").read_text()
    assert "fleet service stopped" in log
