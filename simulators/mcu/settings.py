"""The simulated MCU's settings and readings, the `micropython` command, what it has seen."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Timings of the simulated kiosk (ms): quicker than the field defaults in firmware/config.py.
SIM_SETTINGS: Mapping[str, int] = {
    "heartbeat_ms": 1000,
    "misses": 5,
    "relay_off_ms": 2000,
    "boot_grace_ms": 20000,
    "report_ms": 1000,
}
DEFAULT_BOARD_ID = bytes.fromhex("e6613852834b2a21")  # the simulated RP2040's flash unique id
DARK = 2000  # ADC reading inside a closed enclosure
BRIGHT = 50000  # ADC reading with light on the sensor


def micropython_command() -> str | None:
    """The `micropython` command of this environment, or None if there is none."""
    beside = Path(sys.executable).parent / "micropython"
    return str(beside) if beside.is_file() else shutil.which("micropython")


@dataclass(frozen=True, slots=True)
class McuSimStats:
    """What the simulator has seen so far."""

    pi_powered: bool
    power_cuts: int  # relay driven to cut the Pi's power
    power_restores: int  # relay driven back to power after a cut
    mcu_starts: int  # firmware boots (1 + restarts)
    watchdog_resets: int  # MCU resets by its own hardware watchdog
    events: tuple[tuple[str, int], ...]  # the firmware's events, oldest first

    def count(self, name: str) -> int:
        """How many times the firmware reported event `name`."""
        return sum(1 for event, _ in self.events if event == name)
