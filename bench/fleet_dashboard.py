"""Fleet dashboard benchmark: the fleet page's server time with 10,000 kiosks in the registry.

    .venv/bin/python -m bench.fleet_dashboard [--kiosks 10000] [--requests 60] [--db PATH]

Fills a SqliteStore (WAL, in a temporary folder unless --db names a file) with registered
kiosks spread over 200 institutions and real province/regency codes, each with health reports,
a presence, a reported version and a week of usage; then serves the dashboard on loopback and
times repeated requests of the fleet page: unfiltered (`GET /`, every kiosk counted, the first
200 shown) and filtered (by province, and by institution and state), and one kiosk's page. The
server time is the app's own `Server-Timing` figure (store query, building the page, rendering
the template); the round trip seen by the client is printed beside it.
Target: the fleet page's server time at most 200 ms (p95).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 200.0
INSTITUTIONS = 200
HEALTH_PER_KIOSK = 2
USAGE_DAYS = 7
NOW = 1_796_472_000  # 2026-12-05 12:00:00 UTC
PROVINCES = ("11", "12", "31", "32", "33", "34", "35", "36", "51", "52", "61", "64", "71", "73")


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def device_id(i: int) -> str:
    """The i-th synthetic kiosk's id."""
    return f"KIOSK-SIM-{i:05d}"


def fill(store: object, kiosks: int) -> None:
    """Register `kiosks` kiosks and ingest their health, presence, reported state and usage."""
    from fleet.store.base import DeviceEntry, DeviceState, FleetStore, Ingest
    from protocol.mqtt import (
        DeviceStatus,
        HealthMessage,
        Presence,
        ReportedMessage,
        StateMessage,
        UsageMessage,
    )
    from protocol.outcomes import Outcome

    assert isinstance(store, FleetStore)
    states = [DeviceState.ACTIVE] * 17 + [DeviceState.DEACTIVATED, DeviceState.TAMPERED]
    presences = [Presence.ONLINE] * 8 + [Presence.OFFLINE, Presence.LOST]
    batch: list[Ingest] = []
    for i in range(1, kiosks + 1):
        device = device_id(i)
        region = f"{PROVINCES[i % len(PROVINCES)]}{1 + i % 12:02d}"
        store.put_device(
            DeviceEntry(
                device=device,
                institution=f"perpus-{i % INSTITUTIONS:03d}",
                region=region,
                serial=f"PB-K1-{i:06d}",
                bindings={"reader": f"ACR39U-{i}", "sam": f"SAM-{i}", "sensor": f"FPS-{i}"},
                cert_serial=f"{0x10000 + i:x}",
                cert_expires=NOW + (20 + i % 400) * 86400,
                state=states[i % len(states)],
                registered_at=NOW - 90 * 86400,
            )
        )
        seen = NOW - i % 3600
        for seq in range(1, HEALTH_PER_KIOSK + 1):
            health = HealthMessage(
                seq=seq,
                ts=seen - (HEALTH_PER_KIOSK - seq) * 300,
                reader=DeviceStatus.FAULT if i % 97 == 0 else DeviceStatus.OK,
                sam=DeviceStatus.OK,
                sensor=DeviceStatus.OK,
                tamper=i % 19 == 18,
                deactivated=i % 19 == 17,
                gateway_reachable=True,
                gateway_rtt_ms=20.0,
                cert_days_left=20 + i % 400,
                cpu_temp_c=50.0,
                mem_used_pct=40.0,
                disk_free_pct=70.0,
                uptime_s=3600 * seq,
                agent="0.1.0",
            )
            batch.append(Ingest(device, health, health.ts))
        presence = presences[i % len(presences)]
        batch.append(Ingest(device, StateMessage(presence, f"{i:08x}", seen, "0.1.0"), seen))
        reported = ReportedMessage(NOW - 86400, i % 19 == 17, (), i % 19 == 18, NOW - 86400)
        batch.append(Ingest(device, reported, NOW - 86400))
        for back in range(USAGE_DAYS):
            day = time.strftime("%Y-%m-%d", time.gmtime(NOW - back * 86400))
            counts = {Outcome.FOUND: 30 + i % 20, Outcome.FINGER_MISMATCH: 2 + i % 5}
            batch.append(Ingest(device, UsageMessage(back + 1, day, 7, counts), NOW))
        if len(batch) >= 2000:
            store.ingest(batch)
            batch = []
    if batch:
        store.ingest(batch)


async def _time(url: str, requests: int) -> tuple[list[float], list[float], int]:
    """Server times (ms, from Server-Timing) and round trips (ms) of `requests` GETs."""
    import aiohttp

    server: list[float] = []
    client: list[float] = []
    size = 0
    async with aiohttp.ClientSession() as session:
        for n in range(requests + 3):
            start = time.perf_counter()
            async with session.get(url) as answer:
                body = await answer.read()
                if answer.status != 200:
                    raise SystemExit(f"{url}: HTTP {answer.status}")
                timing = answer.headers["Server-Timing"]
            if n < 3:
                continue  # warm up
            client.append((time.perf_counter() - start) * 1000)
            server.append(float(timing.partition("dur=")[2]))
            size = len(body)
    return server, client, size


def _line(name: str, server: list[float], client: list[float], size: int, target: bool) -> str:
    p95 = _percentile(server, 0.95)
    verdict = f"(target <= {TARGET_MS:g} ms: {'OK' if p95 <= TARGET_MS else 'OVER TARGET'})"
    return (
        f"{name:<44} n={len(server):<4} server median {statistics.median(server):6.1f} ms  "
        f"p95 {p95:6.1f} ms   round trip median {statistics.median(client):6.1f} ms  "
        f"{size / 1024:5.0f} KiB {verdict if target else ''}"
    ).rstrip()


async def _run(store: object, requests: int) -> int:
    from common.clock import SystemClock
    from fleet.dashboard import serve_dashboard
    from fleet.store.base import FleetStore

    assert isinstance(store, FleetStore)

    class At(SystemClock):
        time = staticmethod(lambda: float(NOW))

    running = await serve_dashboard(store, ("127.0.0.1", 0), clock=At())
    failed = 0
    try:
        for name, path, target in (
            ("GET / (every kiosk, first 200 shown)", "", True),
            ("GET /?region=32 (a province)", "?region=32", True),
            (
                "GET /?institution=perpus-007&state=active",
                "?institution=perpus-007&state=active",
                True,
            ),
            ("GET /kiosk/KIOSK-SIM-05000", "kiosk/KIOSK-SIM-05000", False),
        ):
            server, client, size = await _time(running.url + path, requests)
            print(_line(name, server, client, size, target), flush=True)
            failed += int(target and _percentile(server, 0.95) > TARGET_MS)
    finally:
        await running.close()
    return failed


def main() -> int:
    """Fill the store, time the pages, print the figures; non-zero if over the target."""
    parser = argparse.ArgumentParser(prog="bench.fleet_dashboard")
    parser.add_argument("--kiosks", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--db", type=Path, help="a SQLite file to fill (default: a temporary one)")
    args = parser.parse_args()

    from fleet.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="bench-fleet-dashboard-") as folder:
        path = args.db or Path(folder) / "fleet.sqlite3"
        store = SqliteStore(path)
        try:
            start = time.perf_counter()
            fill(store, args.kiosks)
            print(
                f"filled {path.name}: {args.kiosks} kiosks, {HEALTH_PER_KIOSK} health reports "
                f"and {USAGE_DAYS} days of usage each, in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            return 1 if asyncio.run(_run(store, args.requests)) else 0
        finally:
            store.close()


if __name__ == "__main__":
    sys.exit(main())
