"""What an RP2040's machine module has and MicroPython's unix port lacks: Pin, UART, ADC, WDT,
reset_cause and its constants, on a simulated Board. The rest is the unix port's own machine.

MicroPython only: the firmware tests and the MCU simulator put firmware/unix on MICROPYPATH
(never firmware/stubs, which are the CPython stand-ins). The world is a Board, as in the
stand-ins: input levels, ADC readings, a backend behind each UART (any/read/write) and a
listener told when the firmware drives an output pin. With MCU_SIM_UART_FD set, mcu_sim wires
the board to the simulator's pty and pipes.
"""

import os
import sys

_path = sys.path
sys.path = []  # import the built-in machine, not this file again
try:
    from machine import *  # noqa: F403
finally:
    sys.path = _path

PWRON_RESET = 1
WDT_RESET = 3
_ADC_FIRST_GPIO = 26


class Board:
    """What the simulated MCU's pins are connected to."""

    def __init__(self):
        self.levels = {}
        self.adc = {}
        self.uarts = {}
        self.on_output = None
        self.on_feed = None
        self.reset_cause = PWRON_RESET
        self.wdt_timeout_ms = None
        self.wdt_feeds = 0

    def set_input(self, gpio, level):
        """Drive an input pin from outside."""
        self.levels[gpio] = 1 if level else 0

    def set_adc(self, gpio, reading):
        """Set what the ADC on gpio reads (0..65535)."""
        self.adc[gpio] = max(0, min(65535, reading))

    def level(self, gpio, default=0):
        """The current level of a pin."""
        return self.levels.get(gpio, default)

    def reading(self, gpio):
        """The current ADC reading of gpio."""
        return self.adc.get(gpio, 0)

    def drive(self, gpio, level):
        """The firmware drives an output pin; the listener hears of changes."""
        changed = self.levels.get(gpio) != level
        self.levels[gpio] = level
        if changed and self.on_output is not None:
            self.on_output(gpio, level)

    def feed(self):
        """The firmware fed the hardware watchdog."""
        self.wdt_feeds += 1
        if self.on_feed is not None:
            self.on_feed(self.wdt_timeout_ms)


_board = Board()


def board():
    """The board the fake is wired to."""
    return _board


def set_board(new):
    """Wire the fake to another board (before the firmware creates its machine objects)."""
    global _board
    _board = new


class Pin:
    """A GPIO pin on the current board."""

    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        if value is not None:
            self.value(value)

    def value(self, level=None):
        """Read the pin, or drive it when level is given."""
        if level is None:
            return _board.level(self.id, 1 if self.pull == Pin.PULL_UP else 0)
        _board.drive(self.id, 1 if level else 0)
        return None

    def __call__(self, level=None):
        return self.value(level)

    def on(self):
        """Drive high."""
        self.value(1)

    def off(self):
        """Drive low."""
        self.value(0)


class _Unconnected:
    def any(self):
        return 0

    def read(self, size):
        return b""

    def write(self, data):
        return len(data)


class UART:
    """A UART whose far end is the board's backend for this id."""

    def __init__(self, id, baudrate=115200, **kwargs):
        self.id = id
        self.baudrate = baudrate
        self._backend = _board.uarts.get(id) or _Unconnected()

    def any(self):
        """Bytes waiting."""
        return self._backend.any()

    def read(self, nbytes=None):
        """Up to nbytes waiting bytes, or None if there are none (timeout=0)."""
        size = self._backend.any() if nbytes is None else nbytes
        data = self._backend.read(size) if size > 0 else b""
        return data or None

    def write(self, buf):
        """Send buf."""
        return self._backend.write(bytes(buf))


class ADC:
    """A 12-bit ADC read as 16 bits, like the RP2040's."""

    def __init__(self, id):
        gpio = id.id if isinstance(id, Pin) else id
        self.gpio = gpio + _ADC_FIRST_GPIO if gpio < _ADC_FIRST_GPIO else gpio

    def read_u16(self):
        """The current reading, 0..65535."""
        return _board.reading(self.gpio)


class WDT:
    """The hardware watchdog; the board counts the feeds (the simulator enforces the timeout)."""

    def __init__(self, id=0, timeout=5000):
        _board.wdt_timeout_ms = timeout
        _board.feed()

    def feed(self):
        """Restart the countdown."""
        _board.feed()


def unique_id():
    """The board's flash unique id: MCU_SIM_ID (hex) from the simulator, or a fixed one."""
    text = os.getenv("MCU_SIM_ID") or "e6613852834b2a21"
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))


def reset_cause():
    """Why the MCU last started."""
    return _board.reset_cause


if os.getenv("MCU_SIM_UART_FD"):
    import mcu_sim

    mcu_sim.attach(_board)
