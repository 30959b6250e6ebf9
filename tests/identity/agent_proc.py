"""The agent (fake card and finger, real token, state, gateway link) in a child process.

    python -m tests.identity.agent_proc agent.toml

Prints `READY` once started, trips the tamper response on SIGUSR1 and prints
`TAMPERED <labels destroyed>`; SIGTERM stops it. The tests run it under a read-only /etc/kiosk
(tests.identity.test_tamper), as the shipped systemd unit does.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from edge_agent.config import check_files, load_config, require_token
from edge_agent.wiring.app import Agent
from tests.edge_agent.fakes import FakeCard, FakeFinger


async def run(path: str) -> None:
    """Start the agent, answer SIGUSR1 with a tamper, stop on SIGTERM."""
    config = load_config(path)
    require_token(config, source=path)
    check_files(config, source=path)
    agent = Agent(config, card=FakeCard(), finger=FakeFinger(), serve_ui=False)
    await agent.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    assert agent.fleet is not None
    tamper = agent.fleet.tamper
    loop.add_signal_handler(signal.SIGUSR1, tamper.trip, "enclosure")
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    waits = [asyncio.ensure_future(tamper.tripped.wait()), asyncio.ensure_future(stop.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if tamper.tripped.is_set():
        print("TAMPERED", ",".join(tamper.destroyed) or "-", flush=True)
        await stop.wait()
    for wait in waits:
        wait.cancel()
    await agent.stop()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1]))
