"""Ingest rate of the fleet store alone (no MQTT), into SQLite and into PostgreSQL.

    .venv/bin/python -m bench.fleet_store [--batches 200] [--batch 100] [--kiosks 1000]
                                          [--backends sqlite postgresql] [--fleet 10000]

Each batch is what the fleet service's worker thread hands the store in one call: `--batch`
messages, half health reports and half usage reports of `--kiosks` kiosks, every one new
(increasing seq), parsed beforehand. Printed per backend: messages per second of wall time,
messages per CPU second of this process (the store's client side; the PostgreSQL server's own
CPU is not in it), the time per batch (median, p99), and the rate of the same batches replayed
(all duplicates). Then the fleet table of `--fleet` registered kiosks: `fleet()` once cold and
again (unchanged rows reused).

SQLite runs as the service runs it (WAL, synchronous=NORMAL) in a temporary folder. PostgreSQL
is a throwaway server from Debian's packages (tests/postgres.py) with durable commits (fsync on,
synchronous_commit on), over loopback TCP. The figures are printed, not judged: the ingest
target of the whole service (at least 5,000 messages/s into SQLite) is bench.fleet_ingest's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fleet.store.base import DeviceEntry, FleetStore, Ingest
from protocol.mqtt import DeviceStatus, HealthMessage, UsageMessage
from protocol.outcomes import Outcome

DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def _batches(count: int, size: int, kiosks: int) -> list[list[Ingest]]:
    """`count` batches of new health and usage reports, spread over `kiosks` kiosks."""
    seq = [0] * kiosks
    batches = []
    n = 0
    for _ in range(count):
        batch = []
        for i in range(size):
            k = n % kiosks
            n += 1
            seq[k] += 1
            device, at = f"KIOSK-BENCH-{k:05d}", 1_700_000_000 + n
            if i % 2 == 0:
                batch.append(Ingest(device, _health(seq[k], at), at))
            else:
                counts = {Outcome.FOUND: seq[k], Outcome.NOT_FOUND: seq[k] // 3}
                batch.append(Ingest(device, UsageMessage(seq[k], "2026-12-05", 7, counts), at))
        batches.append(batch)
    return batches


def _health(seq: int, ts: int) -> HealthMessage:
    ok = DeviceStatus.OK
    return HealthMessage(
        seq, ts, ok, ok, ok, False, False, True, 11.5, 300, 47.5, 33.0, 70.0, seq * 60, "1.4.0"
    )


def _ingest(store: FleetStore, batches: list[list[Ingest]]) -> tuple[float, float, list[float]]:
    """Wall seconds, CPU seconds and per-batch seconds of ingesting every batch."""
    per_batch = []
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        start = time.perf_counter()
        store.ingest(batch)
        per_batch.append(time.perf_counter() - start)
    return time.perf_counter() - wall, time.process_time() - cpu, per_batch


def _fleet_table(store: FleetStore, kiosks: int) -> tuple[float, float]:
    """Seconds of fleet() of `kiosks` registered kiosks with their latest health: cold, again."""
    devices = [f"KIOSK-BENCH-{i:05d}" for i in range(kiosks)]
    for i, device in enumerate(devices):
        store.put_device(DeviceEntry(device, f"inst-{i % 50}", f"32{i % 20:02d}"))
    for first in range(0, kiosks, 500):
        at = 1_800_000_000
        store.ingest([Ingest(d, _health(10**6, at), at) for d in devices[first : first + 500]])
    start = time.perf_counter()
    rows = store.fleet()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    store.fleet()
    again = time.perf_counter() - start
    assert len(rows) >= kiosks
    return cold, again


def _report(name: str, store: FleetStore, args: argparse.Namespace) -> None:
    batches = _batches(args.batches, args.batch, args.kiosks)
    messages = args.batches * args.batch
    store.ingest(_batches(1, args.batch, args.kiosks)[0])  # warm up (schema pages, statements)
    wall, cpu, per_batch = _ingest(store, batches)
    replay_wall, _, _ = _ingest(store, batches)
    p99 = sorted(per_batch)[int(len(per_batch) * 0.99) - 1]
    print(f"{name}: {messages} messages in batches of {args.batch}")
    print(f"  ingest   {messages / wall:9,.0f} messages/s   {messages / cpu:9,.0f} per CPU second")
    print(
        f"  batch    median {statistics.median(per_batch) * 1000:.2f} ms   p99 {p99 * 1000:.2f} ms"
    )
    print(f"  replayed {messages / replay_wall:9,.0f} messages/s (all duplicates)")
    if args.fleet:
        cold, again = _fleet_table(store, args.fleet)
        print(
            f"  fleet()  {args.fleet} kiosks: {cold * 1000:.1f} ms cold,"
            f" {again * 1000:.1f} ms again"
        )


def _run(name: str, open_store: Callable[[], FleetStore], args: argparse.Namespace) -> None:
    store = open_store()
    try:
        _report(name, store, args)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_store", description=__doc__)
    parser.add_argument("--batches", type=int, default=200, help="batches per run")
    parser.add_argument("--batch", type=int, default=100, help="messages per batch")
    parser.add_argument("--kiosks", type=int, default=1000, help="kiosks the messages come from")
    parser.add_argument("--fleet", type=int, default=10_000, help="kiosks in the fleet table")
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args(argv)

    if "sqlite" in args.backends:
        from fleet.store.sqlite import SqliteStore

        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
            _run("SQLite (WAL, synchronous=NORMAL)", lambda: SqliteStore(Path(tmp) / "f.db"), args)
    if "postgresql" in args.backends:
        from fleet.store.postgres import PostgresStore
        from tests.postgres import PostgresMissing, PostgresServer

        try:
            server = PostgresServer(settings=DURABLE)
        except PostgresMissing as err:
            print(f"bench.fleet_store: {err}", file=sys.stderr)
            return 1
        with server:
            version = server.bindir.parent.name
            dsn = server.create_database("bench")
            _run(
                f"PostgreSQL {version} (durable commits, loopback TCP)",
                lambda: PostgresStore(dsn),
                args,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
