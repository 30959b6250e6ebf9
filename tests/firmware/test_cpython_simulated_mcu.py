"""The simulated MCU is the firmware on the real MicroPython, run as __main__ from the files
flashed to a board (CPython only: drives the simulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.mcu import McuSim
from simulators.mcu.image import image_files
from tests.firmware.test_cpython_on_micropython import micropython

WAIT = 10.0


def test_the_simulated_mcu_runs_the_flashed_image_on_micropython(tmp_path: Path) -> None:
    micropython()  # skips or fails plainly where the unix port is missing
    with McuSim(tmp_path, settings={"heartbeat_ms": 1000, "light_above": True}) as sim:
        assert sim.implementation == "micropython"
        flashed = sorted(
            str(p.relative_to(sim.flash_dir)) for p in sim.flash_dir.rglob("*") if p.is_file()
        )
        assert flashed == sorted([*image_files(), "config.json"])
        assert sim.stats().count("config_error") == 0  # JSON true taken on MicroPython
        sim.open_enclosure()
        assert sim.wait_event("tamper", WAIT)


def test_without_micropython_the_simulator_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("simulators.mcu.process.micropython_command", lambda: None)
    sim = McuSim(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="no `micropython` command"):
            sim.start()
    finally:
        sim.close()
