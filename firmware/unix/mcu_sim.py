"""The simulator's side of the fake machine: the UART on the master side of a pty, the world's
changes read from stdin, output pins and watchdog feeds reported on stdout.

MicroPython only; imported by firmware/unix/machine.py when MCU_SIM_UART_FD is set, which
simulators/mcu/process.py does. Environment: MCU_SIM_UART_FD (the pty's master fd),
MCU_SIM_PINS ("gpio=level,..."), MCU_SIM_ADC ("gpio=reading,..."), MCU_SIM_CUT ("1": drop
what the Pi sends), MCU_SIM_RESET ("wdt": the hardware watchdog reset the MCU).
stdin lines: `pin GPIO LEVEL`, `adc GPIO READING`, `cut 0|1`, `hang`, `quit`.
stdout lines: `mcu IMPLEMENTATION` (once), `out GPIO LEVEL`, `wdt TIMEOUT_MS` (a feed), and
main.py's `supervisor: NAME VALUE`.
"""

import os
import select
import sys
import time

_WDT_RESET = 3


def _pairs(text):
    out = []
    for item in (text or "").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            out.append((int(key), int(value)))
    return out


class PtyUart:
    """The MCU's UART: the pty's master side, never blocking; also polls the control pipe."""

    def __init__(self, board, fd, cut):
        self.board = board
        self.cut = cut
        self.hung = False
        self._port = open(fd, "r+b")  # noqa: SIM115 (open for the life of the MCU)
        self._rx = bytearray()
        self._control = select.poll()
        self._control.register(sys.stdin, select.POLLIN)

    def any(self):
        while self._control.poll(0):
            self._command(sys.stdin.readline())
        try:
            data = self._port.read(4096)
        except OSError:  # EIO: nobody has the port open
            data = None
        if data and not self.cut:
            self._rx.extend(data)
        return len(self._rx)

    def read(self, size):
        data = bytes(self._rx[:size])
        self._rx = self._rx[size:]
        return data

    def write(self, data):
        try:
            return self._port.write(data) or 0
        except OSError:  # a full pty drops bytes, like a UART nobody reads
            return 0

    def _command(self, line):
        words = line.split()
        if not words or words[0] == "quit":  # EOF or asked: like pulling the MCU's power
            sys.exit(0)
        if words[0] == "pin" and len(words) == 3:
            self.board.set_input(int(words[1]), int(words[2]))
        elif words[0] == "adc" and len(words) == 3:
            self.board.set_adc(int(words[1]), int(words[2]))
        elif words[0] == "cut" and len(words) == 2:
            self.cut = words[1] == "1"
        elif words[0] == "hang":
            self._hang()

    def _hang(self):
        """The firmware's loop locks up here: nothing is fed until the watchdog resets us."""
        while True:
            self._control.poll(-1)
            if sys.stdin.readline().split()[:1] in ([], ["quit"]):
                sys.exit(0)


class _FeedReporter:
    """Reports watchdog feeds on stdout, at most four times per timeout."""

    def __init__(self):
        self._last = None

    def __call__(self, timeout_ms):
        now = time.ticks_ms()
        if self._last is not None and time.ticks_diff(now, self._last) < timeout_ms // 4:
            return
        self._last = now
        print("wdt", timeout_ms)


def attach(board):
    """Wire board to the simulator's pty and pipes (called by the fake machine on import)."""
    from firmware import board as pins  # the firmware's pin map, from flash

    for gpio, level in _pairs(os.getenv("MCU_SIM_PINS")):
        board.set_input(gpio, level)
    for gpio, reading in _pairs(os.getenv("MCU_SIM_ADC")):
        board.set_adc(gpio, reading)
    if os.getenv("MCU_SIM_RESET") == "wdt":
        board.reset_cause = _WDT_RESET
    uart = PtyUart(board, int(os.getenv("MCU_SIM_UART_FD")), os.getenv("MCU_SIM_CUT") == "1")
    board.uarts[pins.UART_ID] = uart
    board.on_output = lambda gpio, level: print("out", gpio, level)
    board.on_feed = _FeedReporter()
    print("mcu", sys.implementation.name)
