"""The agent in a child process, on fake devices, so that a test can SIGKILL it.

    python -m tests.mqtt.agent_proc agent.toml [--hang before-rename|after-save --version N]

Prints `READY <connection id>` once its MQTT connection is set up. With --hang, the process
stops dead (its event loop blocked, as if frozen) when it writes remote state version N: just
before the rename that commits the file, or just after the state is on disk; it prints
`HUNG` first. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edge_agent.config import load_config
from edge_agent.uplink import statefile
from edge_agent.uplink.statefile import RemoteState, StateFile
from tests.mqtt.fixtures import running_kiosk


def _hang() -> None:
    print("HUNG", flush=True)
    threading.Event().wait()  # until the test kills this process


def install_hang(where: str, version: int) -> None:
    """Freeze the process when remote state `version` is written (before or after the commit)."""
    original_save = StateFile.save
    original_replace = os.replace
    wanted: dict[str, Any] = {}

    def save(self: StateFile, state: RemoteState) -> None:
        wanted["now"] = state.version == version
        original_save(self, state)
        if wanted["now"] and where == "after-save":
            _hang()

    def replace(src: Any, dst: Any) -> None:
        if wanted.get("now") and where == "before-rename":
            _hang()
        original_replace(src, dst)

    StateFile.save = save  # type: ignore[method-assign]
    statefile.os.replace = replace  # type: ignore[attr-defined]


async def run(config_path: Path) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_kiosk(load_config(config_path)) as kiosk:
        await kiosk.ready()
        uplink = kiosk.agent.uplink
        assert uplink is not None
        print("READY", uplink.client.conn_id, flush=True)
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--hang", choices=["before-rename", "after-save"])
    parser.add_argument("--version", type=int, default=0)
    args = parser.parse_args()
    if args.hang:
        install_hang(args.hang, args.version)
    asyncio.run(run(args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
