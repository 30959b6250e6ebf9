"""Status LEDs, buzzer and enclosure tamper switch on the kiosk's GPIO, through gpiozero.

The pin factory is always injected (`LGPIOFactory()` on a Pi, `MockFactory` in the simulation and
tests); gpiozero's global `Device.pin_factory` is never set. Pin numbers are BCM GPIO numbers;
the defaults live in `DEFAULT_PINS`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gpiozero import LED, Button, Buzzer, GPIOZeroError

from hardware.errors import GpioError

_log = logging.getLogger(__name__)

PinSpec = int | str  # a BCM number, or any name gpiozero accepts ("GPIO22", "BOARD15")


@dataclass(frozen=True, slots=True)
class PinMap:
    """Which GPIO drives what. Defaults avoid UART0/3/5, I2C, SPI and the ID EEPROM pins."""

    green: PinSpec = 22
    amber: PinSpec = 23
    red: PinSpec = 24
    buzzer: PinSpec = 25
    tamper: PinSpec = 26  # switch to ground, closed while the enclosure is shut


DEFAULT_PINS = PinMap()


class Pattern(Enum):
    """What the kiosk tells the citizen (and the technician) through lights and sound."""

    IDLE = "idle"  # ready: green steady
    BUSY = "busy"  # reading card / waiting for finger / asking the gateway: amber blinking
    SUCCESS = "success"  # verified: green steady, one short beep
    FAILURE = "failure"  # not verified or an error: red steady, three short beeps
    DEACTIVATED = "deactivated"  # remotely deactivated: red and amber steady, silent
    TAMPER = "tamper"  # enclosure open: red blinking fast, buzzer beeping


@dataclass(frozen=True, slots=True)
class Blink:
    """An output switching on and off: `n` times, or until the next pattern if None."""

    on_time: float
    off_time: float
    n: int | None = None


Drive = bool | Blink  # steady on, steady off, or blinking


@dataclass(frozen=True, slots=True)
class Look:
    """How each output is driven in one pattern."""

    green: Drive = False
    amber: Drive = False
    red: Drive = False
    buzzer: Drive = False


LOOKS: Mapping[Pattern, Look] = {
    Pattern.IDLE: Look(green=True),
    Pattern.BUSY: Look(amber=Blink(0.25, 0.25)),
    Pattern.SUCCESS: Look(green=True, buzzer=Blink(0.15, 0.0, n=1)),
    Pattern.FAILURE: Look(red=True, buzzer=Blink(0.1, 0.1, n=3)),
    Pattern.DEACTIVATED: Look(red=True, amber=True),
    Pattern.TAMPER: Look(red=Blink(0.1, 0.1), buzzer=Blink(0.5, 0.5)),
}
"""The look of every pattern."""


class Indicators:
    """The three status LEDs and the buzzer; `show(pattern)` switches them all at once."""

    def __init__(
        self,
        green: PinSpec = DEFAULT_PINS.green,
        amber: PinSpec = DEFAULT_PINS.amber,
        red: PinSpec = DEFAULT_PINS.red,
        buzzer: PinSpec = DEFAULT_PINS.buzzer,
        *,
        pin_factory: Any,
    ) -> None:
        self._lock = threading.Lock()
        self._outputs: dict[str, Any] = {}
        try:
            for name, pin, cls in (
                ("green", green, LED),
                ("amber", amber, LED),
                ("red", red, LED),
                ("buzzer", buzzer, Buzzer),
            ):
                self._outputs[name] = cls(pin, pin_factory=pin_factory)
        except GPIOZeroError as err:
            self.close()
            raise GpioError(f"cannot set up the {name} output on pin {pin}") from err
        self._pattern: Pattern | None = None

    @property
    def pattern(self) -> Pattern | None:
        """The pattern shown now (None before the first `show`)."""
        return self._pattern

    def show(self, pattern: Pattern) -> None:
        """Drive every output as `pattern` says; blinking runs in gpiozero's background threads."""
        look = LOOKS[pattern]
        with self._lock:
            if not self._outputs:
                raise GpioError("indicators are closed")
            try:
                for name, device in self._outputs.items():
                    _drive(device, getattr(look, name))
            except GPIOZeroError as err:
                raise GpioError(f"cannot show the {pattern.value} pattern") from err
            self._pattern = pattern
        _log.debug("indicators show %s", pattern.value)

    def close(self) -> None:
        """Switch everything off and release the pins."""
        with self._lock:
            for device in self._outputs.values():
                try:
                    device.close()
                except GPIOZeroError:
                    _log.warning("could not release an indicator pin", exc_info=True)
            self._outputs.clear()


def _drive(device: Any, drive: Drive) -> None:
    if isinstance(drive, Blink):
        device.blink(drive.on_time, drive.off_time, drive.n, background=True)
    elif drive:
        device.on()
    else:
        device.off()


class TamperSwitch:
    """The enclosure's tamper switch: closed (pin pulled low) while the enclosure is shut.

    An open enclosure, a cut wire or a missing switch all read as tampered. `on_change` is
    called with the new state on every change, from gpiozero's thread (the agent hands it to its
    event loop with `call_soon_threadsafe`).
    """

    def __init__(
        self,
        pin: PinSpec = DEFAULT_PINS.tamper,
        *,
        pin_factory: Any,
        on_change: Callable[[bool], None],
        bounce_time: float | None = 0.05,
    ) -> None:
        self._on_change = on_change
        try:
            self._button = Button(
                pin, pull_up=True, bounce_time=bounce_time, pin_factory=pin_factory
            )
        except GPIOZeroError as err:
            raise GpioError(f"cannot set up the tamper switch on pin {pin}") from err
        self._button.when_pressed = self._closed
        self._button.when_released = self._opened

    @property
    def tampered(self) -> bool:
        """True while the enclosure is open (the switch is not closed)."""
        try:
            return not self._button.is_pressed
        except GPIOZeroError as err:
            raise GpioError("cannot read the tamper switch") from err

    def close(self) -> None:
        """Stop watching and release the pin."""
        self._button.close()

    def _closed(self) -> None:
        _log.info("enclosure closed")
        self._on_change(False)

    def _opened(self) -> None:
        _log.warning("enclosure opened: tamper")
        self._on_change(True)
