"""The simulated MCU's child process: the real firmware (firmware/main.py) on the CPython
stand-ins of machine/utime/micropython, its UART bridged to the master side of a pty.

Run by `process.McuSim` as `python -m simulators.mcu.firmware_host`; it keeps the stand-ins'
module names (machine, utime, micropython) out of the caller's interpreter. It reports the
firmware's events and output pins as lines on stdout (`evt NAME VALUE`, `out GPIO LEVEL`) and
takes the world's changes as lines on stdin (`pin`, `adc`, `cut`, `hang`, `quit`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from firmware import board
from simulators.mcu.process import WDT_EXIT


class _PtyUart:
    """The MCU's UART: the master side of the pty, never blocking, dropping what cannot go."""

    def __init__(self, fd: int, cut: bool) -> None:
        self.fd = fd
        self.cut = cut
        self.hang = threading.Event()
        self._rx = bytearray()

    def any(self) -> int:
        if self.hang.is_set():  # the firmware polls the UART on every pass: stop it here
            threading.Event().wait()
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EAGAIN: nothing; EIO: nobody has the port open
            data = b""
        if data and not self.cut:
            self._rx += data
        return len(self._rx)

    def read(self, size: int) -> bytes:
        data = bytes(self._rx[:size])
        del self._rx[:size]
        return data

    def write(self, data: bytes) -> int:
        with contextlib.suppress(OSError):  # a full pty drops bytes, like a UART nobody reads
            return os.write(self.fd, data)
        return 0


class _Sink:
    """Lines to the parent on stdout."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, kind: str, name: object, value: int) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._out.write(f"{kind} {name} {int(value)}\n")
            self._out.flush()


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="simulators.mcu.firmware_host")
    parser.add_argument("--flash", required=True)
    parser.add_argument("--uart-fd", type=int, required=True)
    parser.add_argument("--enclosure", type=int, default=0)
    parser.add_argument("--light", type=int, required=True)
    parser.add_argument("--cut", action="store_true")
    parser.add_argument("--wdt-reset", action="store_true")
    args = parser.parse_args(argv)

    stubs = Path(__file__).resolve().parents[2] / "firmware" / "stubs"
    sys.path.insert(0, str(stubs))
    machine = importlib.import_module("machine")  # the stand-in, from firmware/stubs

    sink = _Sink(sys.stdout)
    uart = _PtyUart(args.uart_fd, args.cut)
    sim_board: Any = machine.Board()
    sim_board.set_input(board.ENCLOSURE, args.enclosure)
    sim_board.set_adc(board.LIGHT, args.light)
    sim_board.uarts[board.UART_ID] = uart
    sim_board.on_output = lambda gpio, level: sink.send("out", gpio, level)
    if args.wdt_reset:
        sim_board.reset_cause = machine.WDT_RESET
    machine.set_board(sim_board)
    os.chdir(args.flash)

    def control() -> None:
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["pin"] and len(words) == 3:
                sim_board.set_input(int(words[1]), int(words[2]))
            elif words[:1] == ["adc"] and len(words) == 3:
                sim_board.set_adc(int(words[1]), int(words[2]))
            elif words[:1] == ["cut"] and len(words) == 2:
                uart.cut = words[1] == "1"
            elif words[:1] == ["hang"]:
                uart.hang.set()
            elif words[:1] == ["quit"]:
                break
        os._exit(0)  # the parent is gone or wants us off: like pulling the MCU's power

    def hardware_watchdog() -> None:
        while True:
            time.sleep(0.1)
            timeout, fed = sim_board.wdt_timeout_ms, sim_board.wdt_last_feed
            if timeout and fed is not None and time.monotonic() - fed > timeout / 1000:
                sink.send("evt", "mcu_watchdog_bite", 0)
                os._exit(WDT_EXIT)

    threading.Thread(target=control, daemon=True).start()
    threading.Thread(target=hardware_watchdog, daemon=True).start()
    # Imported by name: the firmware is untyped MicroPython code, outside the project's mypy.
    firmware_main = importlib.import_module("firmware.main")
    firmware_main.main(on_event=lambda name, value: sink.send("evt", name, value))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
