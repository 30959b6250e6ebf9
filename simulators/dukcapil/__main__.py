"""`python -m simulators.dukcapil`: run the simulated upstream as a process (bench, demo)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvloop

from simulators.dukcapil.app import start_dukcapil_sim
from simulators.dukcapil.population import Population, SimUser


def _user(text: str) -> SimUser:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise argparse.ArgumentTypeError("USER_ID:PASSWORD[:INSTITUTION]")
    return SimUser(parts[0], parts[1], parts[2] if len(parts) == 3 else parts[0])


async def _serve(args: argparse.Namespace) -> None:
    for user in args.user:
        user.daily_quota = args.quota
    population = Population.from_personas(generated=args.generated_population)
    running = await start_dukcapil_sim(args.host, args.port, users=args.user, population=population)
    print(f"dukcapil-sim listening on {running.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await running.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m simulators.dukcapil")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--user", type=_user, action="append", default=[], required=True)
    parser.add_argument("--quota", type=int, default=None, help="daily quota of each user")
    parser.add_argument(
        "--generated-population",
        action="store_true",
        help="answer FOUND with a generated record for any valid NIK that is not a persona"
        " (load tests)",
    )
    args = parser.parse_args(argv)
    uvloop.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
