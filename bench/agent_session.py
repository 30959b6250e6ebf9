"""Kiosk agent benchmark: its own time per verification, its memory, and its start-up time.

    .venv/bin/python -m bench.agent_session [--visits 30]

Runs the whole simulated stack (`kiosk-sim up`: real pcscd + vpcd, fingerprint module on a pty,
Dukcapil simulator, gateway, and the agent as its own process), lets a synthetic citizen verify
`--visits` times, and reads from the agent's log the time each session spent in the agent itself
(end to end minus the waits on the simulated hardware's wire time and on the gateway/upstream).
Targets: median own time under 25 ms, steady RSS under 60 MB, start to READY under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
from pathlib import Path

from kiosk_sim.scenarios import PageWatcher, Run, Scenario, visit
from kiosk_sim.stack import DEMO_TIMEOUTS, Stack

OWN_TARGET_MS = 25.0
RSS_TARGET_MB = 60.0
READY_TARGET_S = 2.0
_DONE = re.compile(rb"session done outcome=FOUND .* total_ms=([\d.]+) own_ms=([\d.]+)")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _bench(visits: int, run_dir: Path) -> int:
    async with Stack(run_dir, timeouts=DEMO_TIMEOUTS) as stack:
        assert stack.agent is not None
        rss_ready = _rss_mb(stack.agent.pid)
        async with PageWatcher(stack.ui_url) as page:
            run = Run(stack, page)
            for i in range(visits):
                await visit(run, Scenario("found", ("ayu", "bagas")[i % 2], "FOUND"))
        rss_steady = _rss_mb(stack.agent.pid)
        ready = stack.agent_ready_seconds
    log = (run_dir / "agent" / "agent.log").read_bytes()
    pairs = [(float(t), float(o)) for t, o in _DONE.findall(log)]
    if not pairs:
        print("no FOUND sessions in the agent log")
        return 1
    total = statistics.median(t for t, _ in pairs)
    own = statistics.median(o for _, o in pairs)
    print(f"verifications:              {len(pairs)}")
    print(
        f"end to end, median:         {total:8.1f} ms  (card read + finger at 57600 baud + query)"
    )
    print(
        f"agent's own time, median:   {own:8.2f} ms  target < {OWN_TARGET_MS:g} ms"
        f"  ({own / OWN_TARGET_MS:.2f}x of target)"
    )
    print(f"agent RSS at READY:         {rss_ready:8.1f} MB")
    print(f"agent RSS steady:           {rss_steady:8.1f} MB  target < {RSS_TARGET_MB:g} MB")
    print(f"start to READY:             {ready:8.2f} s   target < {READY_TARGET_S:g} s")
    ok = own < OWN_TARGET_MS and rss_steady < RSS_TARGET_MB and ready < READY_TARGET_S
    return 0 if ok else 1


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=30, help="verifications (default 30)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        return asyncio.run(_bench(args.visits, Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
