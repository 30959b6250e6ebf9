"""Fleet ingest benchmark: messages per second per core of the fleet service, into SQLite and
into PostgreSQL.

    .venv/bin/python -m bench.fleet_ingest [--kiosks 100] [--messages 30000] [--backend both]

Starts a real mosquitto (TLS 1.3, client certificates, the fleet ACL), a real PostgreSQL (from
Debian's packages, on loopback, as the tests do), and a swarm of lightweight simulated kiosks
(kiosk_sim.swarm: one paho MQTT v5 client per kiosk, each with its own certificate from the
device CA, publishing real protocol.mqtt health and usage payloads, QoS 1). The fleet service
runs as its own process (`kiosk-fleet serve`), so its CPU time is its own:

1. backlog: the service subscribes once and stops; the swarm publishes `--messages` reports,
   which the broker queues in the service's persistent session; the service starts again and
   drains them. Figure: messages stored per CPU-second of the service process (all its threads),
   i.e. per core, and per wall-clock second.
2. live: the service runs while the swarm publishes as fast as it can; the same figures (the
   swarm and mosquitto share the machine's cores with it).

Target: at least 5,000 messages per second per core into SQLite (a province of 10,000 kiosks
reporting every minute needs about 170/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kiosk_sim.broker import MosquittoBroker
from kiosk_sim.fleet_admin import FleetSetup
from kiosk_sim.fleet_service import FleetServiceProcess
from kiosk_sim.pki import make_pki
from kiosk_sim.swarm import SwarmKiosk, start_swarm
from protocol.outcomes import Outcome

TARGET_SQLITE = 5000.0
DAY = "2026-12-05"
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def healthz(url: str) -> dict[str, int | str]:
    """The service's /healthz."""
    with urllib.request.urlopen(url + "healthz", timeout=5) as resp:
        result: dict[str, int | str] = json.load(resp)
        return result


def publish(swarm: list[SwarmKiosk], total: int) -> int:
    """`total` reports from the swarm, health and usage in turn; wait for every PUBACK."""
    infos = []
    now = int(time.time())
    for i in range(total):
        kiosk = swarm[i % len(swarm)]
        if i % 2:
            n = kiosk.usage_seq + 1
            infos.append(kiosk.usage(DAY, {Outcome.FOUND: n, Outcome.NOT_FOUND: n // 5}))
        else:
            infos.append(kiosk.health(now))
    for info in infos:
        info.wait_for_publish(120)
    return len(infos)


def wait_received(url: str, total: int, timeout: float = 600.0) -> None:
    """Until /healthz counts `total` messages (polled: a bench, not a test)."""
    deadline = time.monotonic() + timeout
    while int(healthz(url)["received"]) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"the service did not receive {total} messages in {timeout:g} s")
        time.sleep(0.02)


def figures(label: str, count: int, cpu: float, wall: float) -> float:
    """Print one line; return messages per CPU-second."""
    per_core = count / cpu if cpu > 0 else float("inf")
    print(
        f"{label:<28} {count:>7} messages  {wall:6.2f} s wall  {cpu:6.2f} s CPU  "
        f"{count / wall:>8,.0f}/s wall  {per_core:>8,.0f}/s per core"
    )
    return per_core


async def run_backend(
    name: str, setup: FleetSetup, swarm: list[SwarmKiosk], total: int, folder: Path
) -> tuple[float, float]:
    """(backlog per core, live per core) for one store backend."""
    service = FleetServiceProcess(setup.fleet_config, folder / f"service-{name}.log")
    await service.start()  # its session and subscriptions at the broker
    await service.stop()
    sent = await asyncio.to_thread(publish, swarm, total)

    await service.start()
    pid, url = service.pid, service.dashboard_url
    assert pid is not None and url is not None
    start_cpu, start_wall = cpu_seconds(pid), time.perf_counter()
    already = int(healthz(url)["received"])
    await asyncio.to_thread(wait_received, url, sent)
    cpu, wall = cpu_seconds(pid) - start_cpu, time.perf_counter() - start_wall
    backlog = figures(f"{name}: backlog drained", sent - already, cpu, wall)

    start_cpu, start_wall = cpu_seconds(pid), time.perf_counter()
    sent_live = await asyncio.to_thread(publish, swarm, total)
    await asyncio.to_thread(wait_received, url, sent + sent_live)
    cpu, wall = cpu_seconds(pid) - start_cpu, time.perf_counter() - start_wall
    live = figures(f"{name}: live swarm", sent_live, cpu, wall)
    health = healthz(url)
    print(
        f"{'':<28} malformed {health['malformed']}; "
        f"superseded or replayed (not stored) {health['duplicates']}"
    )
    await service.stop()
    return backlog, live


async def bench(args: argparse.Namespace, folder: Path) -> int:
    """Run the benchmark in `folder`."""
    pki = make_pki(folder / "pki")
    broker = MosquittoBroker(folder / "broker", pki)
    broker.start()
    swarm: list[SwarmKiosk] = []
    failed = False
    try:
        print(f"issuing {args.kiosks} kiosk certificates and connecting them...", flush=True)
        swarm = await asyncio.to_thread(start_swarm, broker, pki, args.kiosks, prefix="KIOSK-BN")
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        for name in backends:
            setup = FleetSetup.create(folder / f"fleet-{name}", pki, broker)
            # its own client id and group: a replica's session, away, still takes its share
            text = setup.fleet_config.read_text().replace(
                'client_id = "fleet-sim-1"',
                f'client_id = "fleet-bench-{name}"\ngroup = "bench-{name}"',
            )
            if name == "postgresql":
                from tests.postgres import PostgresServer

                pg = PostgresServer()
                pg.start()
                try:
                    text += f'\n[store]\ndsn = "{pg.create_database()}"\n'
                    setup.fleet_config.write_text(text)
                    backlog, _ = await run_backend(name, setup, swarm, args.messages, folder)
                finally:
                    pg.stop()
            else:
                setup.fleet_config.write_text(text)
                backlog, _ = await run_backend(name, setup, swarm, args.messages, folder)
                if backlog < TARGET_SQLITE:
                    print(f"  below the target of {TARGET_SQLITE:,.0f}/s per core into SQLite")
                    failed = True
    finally:
        for kiosk in swarm:
            kiosk.stop()
        broker.stop()
    return 1 if failed else 0


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=100, help="simulated kiosks (default 100)")
    parser.add_argument("--messages", type=int, default=30000, help="reports per phase")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(bench(args, args.keep))
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
        return asyncio.run(bench(args, Path(folder)))


if __name__ == "__main__":
    sys.exit(main())
