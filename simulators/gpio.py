"""Simulated GPIO for the kiosk: gpiozero's MockFactory with pins that can be watched and driven.

`mock_factory()` gives a pin factory to inject into `Indicators` and `TamperSwitch`.
`Enclosure` opens and closes the simulated enclosure (drives the tamper pin); `output_states`
reads the LEDs and the buzzer for the kiosk-sim control surface; `wait_for_pin` waits on a pin
change without sleeping.
"""

from __future__ import annotations

import threading
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

from hardware.gpio import DEFAULT_PINS, PinMap, PinSpec


class SimPin(MockPin):  # type: ignore[misc]  # gpiozero ships no type information
    """A MockPin that notifies waiters of every change and can be held by an outside circuit.

    A level driven from outside (`hold`) beats the pin's pull resistor, as a closed switch to
    ground beats a pull-up: a device that sets the pull later does not undo it.
    """

    def __init__(self, factory: Any, info: Any) -> None:
        self._changed = threading.Condition()
        self._held: bool | None = None
        super().__init__(factory, info)

    def hold(self, level: bool | None) -> None:
        """Drive the input from outside (True high, False low), or let it go (None)."""
        self._held = level
        if level is None:
            if self._function == "input":
                self._set_pull(self._get_pull())
        elif level:
            self.drive_high()
        else:
            self.drive_low()

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        if self._held is not None:
            self._change_state(self._held)

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed:
            with self._changed:
                self._changed.notify_all()
        return changed

    def wait_for(self, level: bool, timeout: float) -> bool:
        """Block until the pin reads `level` (True) or `timeout` seconds pass (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._state) == level, timeout)

    def wait_for_changes(self, count: int, timeout: float) -> bool:
        """Block until the pin has changed `count` times since its states were last cleared."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.states) > count, timeout)


def mock_factory() -> Any:
    """A fresh MockFactory whose pins are SimPins (never installed as gpiozero's default)."""
    return MockFactory(pin_class=SimPin)


def sim_pin(factory: Any, pin: PinSpec) -> SimPin:
    """The simulated pin behind a pin number of `factory`."""
    found = factory.pin(pin)
    if not isinstance(found, SimPin):
        raise TypeError("the factory was not made by mock_factory()")
    return found


def pin_level(factory: Any, pin: PinSpec) -> bool:
    """The level of a pin: True high."""
    return bool(sim_pin(factory, pin).state)


def wait_for_pin(factory: Any, pin: PinSpec, level: bool, timeout: float) -> bool:
    """Block until a pin reads `level` (True) or `timeout` seconds pass (False)."""
    return sim_pin(factory, pin).wait_for(level, timeout)


def output_states(factory: Any, pins: PinMap = DEFAULT_PINS) -> dict[str, bool]:
    """Which indicators are on now: green, amber, red, buzzer (active high)."""
    return {
        name: pin_level(factory, getattr(pins, name))
        for name in ("green", "amber", "red", "buzzer")
    }


class Enclosure:
    """The simulated kiosk enclosure and its tamper switch; starts shut."""

    def __init__(self, factory: Any, pin: PinSpec = DEFAULT_PINS.tamper) -> None:
        self._pin = sim_pin(factory, pin)
        self._pin.hold(False)

    @property
    def is_open(self) -> bool:
        """True while the enclosure is open."""
        return bool(self._pin.state)

    def open(self) -> None:
        """Open the enclosure: the switch opens and the pull-up takes the pin high."""
        self._pin.hold(True)

    def close(self) -> None:
        """Shut the enclosure: the switch closes and pulls the pin low."""
        self._pin.hold(False)

    def cut_wire(self) -> None:
        """The switch wire is cut: the pin floats to its pull (high with the pull-up)."""
        self._pin.hold(None)
