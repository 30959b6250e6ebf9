"""Bulk deactivation benchmark: time from `Fleet.set_state_many` until every one of N kiosks
has reported the new version (target: 1,000 kiosks within 5 s on loopback).

    .venv/bin/python -m bench.fleet_bulk [--kiosks 1000] [--repeat 3]

A real mosquitto (TLS 1.3, the fleet ACL) and the real fleet tool: one signed document per
kiosk, published on one connection, every report awaited at once. The kiosks are a swarm of
lightweight simulated kiosks (kiosk_sim.swarm), one MQTT connection each with its own
certificate on the kiosk listener, each checking the signature and reporting the version.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fleet.actions import Fleet, Outcome
from fleet.config import load_config
from kiosk_sim.broker import ADMIN_CN, MosquittoBroker
from kiosk_sim.pki import make_pki
from kiosk_sim.swarm import answering_swarm
from protocol.signed import keyring, public_pem
from tests.fleet.test_cli import write_fleet_config
from tests.mqtt.fixtures import Certs
from tests.remote.keys import ADMIN

TARGET_S = 5.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; non-zero if the target is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_bulk", description=__doc__)
    parser.add_argument("--kiosks", type=int, default=1000, help="kiosks deactivated at once")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (deactivate, reactivate)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fleet-bulk-") as tmp:
        folder = Path(tmp)
        pki = make_pki(folder / "pki")
        admin_key = folder / "admin-ed25519.pub"
        admin_key.write_bytes(public_pem(ADMIN.public_key()))
        certs = Certs(pki, {}, pki.issue_admin(ADMIN_CN), admin_key)
        with MosquittoBroker(folder / "broker", pki) as broker:
            fleet = Fleet(load_config(write_fleet_config(folder / "fleet", certs, broker, None)))
            print(f"connecting {args.kiosks} simulated kiosks...", flush=True)
            devices = [f"KIOSK-B{i:05d}" for i in range(args.kiosks)]
            times: list[float] = []
            with answering_swarm(broker, pki, devices, keyring(ADMIN.public_key())):
                for round_ in range(args.repeat * 2):
                    t0 = time.perf_counter()
                    results = fleet.set_state_many(
                        devices, deactivate=round_ % 2 == 0, reason="bench", timeout=30.0
                    )
                    done = sum(r.outcome is Outcome.DONE for r in results)
                    took = max(r.elapsed_s for r in results)
                    print(
                        f"round {round_ + 1}: {done} of {args.kiosks} reported in {took:.2f} s"
                        f" (call {time.perf_counter() - t0:.2f} s)"
                    )
                    if done == args.kiosks:
                        times.append(took)

    if len(times) < args.repeat * 2:
        print("FAILED: not every kiosk reported in some round")
        return 1
    median = statistics.median(times)
    verdict = "OK" if median <= TARGET_S else "OVER TARGET"
    print(
        f"bulk deactivation of {args.kiosks} kiosks: median {median:.2f} s, worst"
        f" {max(times):.2f} s until every report (target {TARGET_S:g} s): {verdict}"
    )
    return 0 if median <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
