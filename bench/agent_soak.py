"""Kiosk agent soak: memory, file descriptors and threads over many verifications.

    .venv/bin/python -m bench.agent_soak [--count 10000]

Runs the whole simulated stack (`kiosk-sim up`: real pcscd + vpcd, the fingerprint module on a
pty, the Dukcapil simulator, the gateway, mosquitto, and the agent as its own process) and lets
synthetic citizens verify `--count` times, one after the other. It prints the agent's RSS, open
file descriptors and threads at READY (0), after every tenth of the count (1,000, 2,000, ... of
10,000) with the rate so far, and at the end. Target: at most 2 MB of RSS growth from the first
tenth to the end (the gateway link's TLS session read grew the process by about 6 KiB per
verification). The institution is PoC-approved and the burst limits are off, so every visit
goes all the way to the upstream. At about 75 verifications a minute on a 2-core machine,
10,000 take a little over two hours: run it under nohup.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from kiosk_sim.scenarios import PageWatcher, Run, Scenario, visit
from kiosk_sim.stack import Stack, Timeouts

GROWTH_TARGET_MB = 2.0
SOAK_TIMEOUTS = Timeouts(card_read=5.0, finger_wait=3.0, query=5.0, result_display=0.05)
PERSONAS = ("ayu", "bagas")


class SoakStack(Stack):
    """The simulated stack with the gateway's quota and burst limits out of the way."""

    def _gateway_settings(self) -> dict[str, Any]:
        settings = super()._gateway_settings()
        settings["antiscrape"] = {"device_burst_limit": 0, "burst_limit": 0}
        for institution in settings["institutions"].values():
            institution["poc_approved"] = True
        return settings


def _idle_without_card(screen: dict[str, Any]) -> bool:
    return screen.get("screen") == "idle" and not screen.get("card_present", True)


def process_figures(pid: int) -> tuple[float, int, int]:
    """RSS (MB), open file descriptors and threads of process `pid`."""
    rss_kb, threads = 0, 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd")), threads


async def _soak(count: int, run_dir: Path) -> int:
    tenth = max(count // 10, 1)
    marks = sorted({0, *range(tenth, count, tenth), count})  # every tenth: a long run shows its way
    figures: dict[int, tuple[float, int, int]] = {}
    outcomes: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    async with SoakStack(run_dir, timeouts=SOAK_TIMEOUTS, baud=115200) as stack:
        assert stack.agent is not None
        pid = stack.agent.pid
        async with PageWatcher(stack.ui_url) as page:
            run = Run(stack, page)
            for i in range(count + 1):
                if i in marks:
                    figures[i] = process_figures(pid)
                    rss, fds, threads = figures[i]
                    rate = i / (time.perf_counter() - started) * 60
                    print(
                        f"after {i:6d}: RSS {rss:7.1f} MB  fds {fds:4d}  threads {threads:3d}"
                        f"  ({rate:.0f} a minute)",
                        flush=True,
                    )
                if i == count:
                    break
                persona = PERSONAS[i % len(PERSONAS)]
                outcomes[await visit(run, Scenario("soak", persona, "FOUND"))] += 1
                # the result screen is short: wait until the agent has seen the card go too
                await page.until(_idle_without_card, run.timeout)
    took = time.perf_counter() - started
    first, end = figures[marks[1]], figures[count]
    growth = end[0] - first[0]
    print(f"verifications: {count} in {took:.0f} s; outcomes {dict(outcomes)}")
    print(
        f"RSS growth from {marks[1]} to {count}: {growth:+.2f} MB "
        f"(target at most {GROWTH_TARGET_MB:g} MB); fds {first[1]} -> {end[1]}, "
        f"threads {first[2]} -> {end[2]}"
    )
    steady = end[1] <= first[1] + 2 and end[2] <= first[2] + 1
    return 0 if growth <= GROWTH_TARGET_MB and steady else 1


def main() -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=10000, help="verifications (default 10000; 200 is quick)"
    )
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        return asyncio.run(_soak(args.count, Path(os.environ.get("SOAK_DIR", tmp))))


if __name__ == "__main__":
    raise SystemExit(main())
