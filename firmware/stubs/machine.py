"""CPython stand-in for MicroPython's machine module: Pin, UART, ADC, WDT and the reset calls.

The simulated world lives in a Board: the levels of input pins, the ADC readings, a byte stream
behind each UART, and a listener told when firmware drives an output pin. Whoever runs the
firmware (a test, the MCU simulator) sets its own with set_board(); the default board has no
listener, inputs read their pull level, ADCs read 0, and UARTs have nothing attached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

PWRON_RESET = 1
WDT_RESET = 3
_ADC_FIRST_GPIO = 26


class UartBackend(Protocol):
    """The far end of a simulated UART."""

    def any(self) -> int:
        """Bytes waiting to be read."""
        ...

    def read(self, size: int) -> bytes:
        """Up to size waiting bytes (b"" if none)."""
        ...

    def write(self, data: bytes) -> int:
        """Send data; return how many bytes were taken."""
        ...


class Board:
    """What the simulated MCU's pins are connected to."""

    def __init__(self) -> None:
        self.levels: dict[int, int] = {}
        self.adc: dict[int, int] = {}
        self.uarts: dict[int, UartBackend] = {}
        self.on_output: Callable[[int, int], None] | None = None
        self.reset_cause = PWRON_RESET
        self.wdt_timeout_ms: int | None = None
        self.wdt_last_feed: float | None = None
        self.wdt_feeds = 0
        self._lock = threading.Lock()

    def set_input(self, gpio: int, level: int) -> None:
        """Drive an input pin from outside."""
        with self._lock:
            self.levels[gpio] = 1 if level else 0

    def set_adc(self, gpio: int, reading: int) -> None:
        """Set what the ADC on gpio reads (0..65535)."""
        with self._lock:
            self.adc[gpio] = max(0, min(65535, reading))

    def level(self, gpio: int, default: int = 0) -> int:
        """The current level of a pin."""
        with self._lock:
            return self.levels.get(gpio, default)

    def reading(self, gpio: int) -> int:
        """The current ADC reading of gpio."""
        with self._lock:
            return self.adc.get(gpio, 0)

    def drive(self, gpio: int, level: int) -> None:
        """Firmware drives an output pin; the listener hears of changes."""
        with self._lock:
            changed = self.levels.get(gpio) != level
            self.levels[gpio] = level
            listener = self.on_output
        if changed and listener is not None:
            listener(gpio, level)

    def feed(self) -> None:
        """Firmware fed the hardware watchdog."""
        with self._lock:
            self.wdt_last_feed = time.monotonic()
            self.wdt_feeds += 1


_board = Board()


def board() -> Board:
    """The board the stubs are wired to."""
    return _board


def set_board(new: Board) -> None:
    """Wire the stubs to another board (before the firmware creates its machine objects)."""
    global _board
    _board = new


class Pin:
    """A GPIO pin on the current board."""

    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(
        self, id: int, mode: int = -1, pull: int = -1, *, value: int | None = None
    ) -> None:
        self.id = id
        self.mode = mode
        self.pull = pull
        if value is not None:
            self.value(value)

    def init(self, mode: int = -1, pull: int = -1, *, value: int | None = None) -> None:
        """Reconfigure the pin."""
        self.mode = mode if mode != -1 else self.mode
        self.pull = pull if pull != -1 else self.pull
        if value is not None:
            self.value(value)

    def value(self, level: int | None = None) -> int | None:
        """Read the pin, or drive it when level is given."""
        if level is None:
            return _board.level(self.id, 1 if self.pull == Pin.PULL_UP else 0)
        _board.drive(self.id, 1 if level else 0)
        return None

    def __call__(self, level: int | None = None) -> int | None:
        return self.value(level)

    def on(self) -> None:
        """Drive high."""
        self.value(1)

    def off(self) -> None:
        """Drive low."""
        self.value(0)

    def toggle(self) -> None:
        """Invert the driven level."""
        self.value(0 if _board.level(self.id) else 1)

    def irq(self, handler: Callable[[Pin], None] | None = None, trigger: int = 0) -> None:
        """Accept and ignore an interrupt handler (the supervisor polls)."""


class _Unconnected:
    def any(self) -> int:
        return 0

    def read(self, size: int) -> bytes:
        return b""

    def write(self, data: bytes) -> int:
        return len(data)


class UART:
    """A UART whose far end is the board's backend for this id."""

    def __init__(self, id: int, baudrate: int = 115200, **kwargs: object) -> None:
        self.id = id
        self.baudrate = baudrate
        self._backend: UartBackend = _board.uarts.get(id) or _Unconnected()

    def init(self, baudrate: int = 115200, **kwargs: object) -> None:
        """Reconfigure (only the rate is kept)."""
        self.baudrate = baudrate

    def any(self) -> int:
        """Bytes waiting."""
        return self._backend.any()

    def read(self, nbytes: int | None = None) -> bytes | None:
        """Up to nbytes waiting bytes, or None if there are none (MicroPython's timeout=0)."""
        size = self._backend.any() if nbytes is None else nbytes
        data = self._backend.read(size) if size > 0 else b""
        return data or None

    def readinto(self, buf: bytearray, nbytes: int | None = None) -> int | None:
        """Read into buf; return the count, or None if nothing was waiting."""
        data = self.read(len(buf) if nbytes is None else min(nbytes, len(buf)))
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def write(self, buf: bytes) -> int:
        """Send buf."""
        return self._backend.write(bytes(buf))

    def flush(self) -> None:
        """Wait until everything is sent (it always is)."""

    def txdone(self) -> bool:
        """True: the stand-in sends at once."""
        return True


class ADC:
    """A 12-bit ADC read as 16 bits, like the RP2040's."""

    def __init__(self, id: int | Pin) -> None:
        gpio = id.id if isinstance(id, Pin) else id
        self.gpio = gpio + _ADC_FIRST_GPIO if gpio < _ADC_FIRST_GPIO else gpio

    def read_u16(self) -> int:
        """The current reading, 0..65535."""
        return _board.reading(self.gpio)


class WDT:
    """The hardware watchdog; the board records each feed (the simulator enforces it)."""

    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        _board.wdt_timeout_ms = timeout
        _board.feed()

    def feed(self) -> None:
        """Restart the countdown."""
        _board.feed()


def reset_cause() -> int:
    """Why the MCU last started."""
    return _board.reset_cause


def reset() -> None:
    """Reset the MCU: here, end the program."""
    raise SystemExit("machine.reset()")


def soft_reset() -> None:
    """Soft-reset the MCU: here, end the program."""
    raise SystemExit("machine.soft_reset()")


def freq(hz: int | None = None) -> int | None:
    """The CPU clock (125 MHz)."""
    return 125_000_000 if hz is None else None


def unique_id() -> bytes:
    """A fixed board id."""
    return b"\xe6\x61\x38\x52\x83\x4b\x2a\x21"


def idle() -> None:
    """Wait for an interrupt: here, nothing."""
