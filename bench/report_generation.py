"""Semester report generation for a large institution: 10,000 kiosks, a semester of daily counts.

    .venv/bin/python -m bench.report_generation [--kiosks 10000] [--days 184] [--repeat 1]

The store (SQLite, as the service runs it) is filled beforehand, straight into its tables: one
usage row per kiosk and day (1.84 M rows at the defaults, synthetic counts of six outcomes), a
tamper alert every 100 kiosks. Timed: `make_report`, all of it: the store's usage summed per day
and outcome, the registry, audit trail and alerts, the figures, the charts (matplotlib), the PDF
(Typst), the signature and the annex, written to a temporary folder. The gateway's counts are
given (its HTTP round trip is not the subject). Target: at most 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.semester.make import make_report, prepare_out
from fleet.semester.period import Semester
from fleet.semester.sources import GatewayCounts
from fleet.store.base import Alert, AlertKind
from fleet.store.sqlite import SqliteStore

TARGET_S = 10.0
INSTITUTION = "perpus-besar"
SEMESTER = Semester(2026, 2)


def _rows(kiosks: int, days: int) -> Iterator[tuple[object, ...]]:
    rng = random.Random(18)
    first = SEMESTER.first_day
    dates = [(first + dt.timedelta(days=n)).isoformat() for n in range(days)]
    for k in range(kiosks):
        for day in dates:
            counts = {
                "CARD_UNREADABLE": rng.randrange(3),
                "FOUND": rng.randrange(30),
                "NOT_FOUND": rng.randrange(4),
                "PATTERN_BLOCKED": rng.randrange(2),
                "QUOTA_EXHAUSTED": int(rng.random() < 0.01),
                "TIMEOUT": rng.randrange(2),
            }
            text = json.dumps({o: n for o, n in counts.items() if n}, separators=(",", ":"))
            yield (f"KIOSK-BENCH-{k:05d}", day, 5, 7, text, 1_790_000_000)


def fill(path: Path, kiosks: int, days: int) -> None:
    """A store with `kiosks` registered kiosks and `days` days of usage each."""
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO device VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (f"KIOSK-BENCH-{k:05d}", INSTITUTION, "3374", "", "{}", None, None, "active", 0)
                for k in range(kiosks)
            ],
        )
        db.executemany("INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?)", _rows(kiosks, days))
    db.close()
    store = SqliteStore(path)
    for k in range(0, kiosks, 100):
        device = f"KIOSK-BENCH-{k:05d}"
        store.raise_alert(
            Alert(f"tamper:{device}", AlertKind.TAMPER, device, "tamper", 1_790_000_000 + k)
        )
    store.close()


def main() -> int:
    """Fill, then time the report; non-zero if the median misses the target."""
    p = argparse.ArgumentParser(prog="bench.report_generation", description=__doc__)
    p.add_argument("--kiosks", type=int, default=10_000)
    p.add_argument("--days", type=int, default=184)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        fill(folder / "fleet.sqlite3", a.kiosks, a.days)
        print(
            f"store filled: {a.kiosks} kiosks x {a.days} days in {time.perf_counter() - t0:.1f} s"
        )
        store = SqliteStore(folder / "fleet.sqlite3")
        key = Ed25519PrivateKey.generate()
        counts = GatewayCounts({}, 200, None, True)
        times = []
        for i in range(a.repeat):
            out = prepare_out(folder / f"out-{i}")
            t0 = time.perf_counter()
            made = make_report(
                store,
                counts,
                key,
                institution=INSTITUTION,
                semester=SEMESTER,
                out=out,
                admin="bench",
                now=1_798_000_000,
            )
            times.append(time.perf_counter() - t0)
            print(
                f"report {i + 1}: {times[-1]:.2f} s ({made.data.total.sessions:,} sessions, "
                f"{len(made.data.incidents)} incidents, {made.pdf.stat().st_size:,} bytes PDF)"
            )
        store.close()
    median = statistics.median(times)
    verdict = "ok" if median <= TARGET_S else "MISSED"
    print(
        f"report generation, {a.kiosks:,} kiosks x {a.days} days: median {median:.2f} s "
        f"(target {TARGET_S:g} s) {verdict}"
    )
    return 0 if median <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
