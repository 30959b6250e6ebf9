"""Indicators and tamper switch on gpiozero's mock pins (SimPin), never the global factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero import Device

from hardware.errors import GpioError
from hardware.gpio import (
    DEFAULT_PINS,
    LOOKS,
    Blink,
    Indicators,
    Pattern,
    TamperSwitch,
)
from simulators.gpio import Enclosure, mock_factory, output_states, sim_pin, wait_for_pin

WAIT = 3.0  # seconds: an upper bound for background blink threads, never a sleep


@pytest.fixture
def factory() -> Iterator[Any]:
    pins = mock_factory()
    yield pins
    pins.close()


@pytest.fixture
def indicators(factory: Any) -> Iterator[Indicators]:
    leds = Indicators(pin_factory=factory)
    yield leds
    leds.close()


def test_default_pins_are_distinct_and_clear_of_uart_i2c_spi() -> None:
    pins = [DEFAULT_PINS.green, DEFAULT_PINS.amber, DEFAULT_PINS.red, DEFAULT_PINS.buzzer]
    pins.append(DEFAULT_PINS.tamper)
    assert len(set(pins)) == 5
    assert not set(pins) & {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15}


def test_the_global_pin_factory_is_never_touched(factory: Any) -> None:
    before = Device.pin_factory
    leds = Indicators(pin_factory=factory)
    leds.show(Pattern.IDLE)
    switch = TamperSwitch(pin_factory=factory, on_change=lambda _: None)
    switch.close()
    leds.close()
    assert Device.pin_factory is before


@pytest.mark.parametrize(
    ("pattern", "lit"),
    [
        (Pattern.IDLE, {"green"}),
        (Pattern.DEACTIVATED, {"red", "amber"}),
    ],
)
def test_steady_patterns(
    factory: Any, indicators: Indicators, pattern: Pattern, lit: set[str]
) -> None:
    indicators.show(pattern)
    assert indicators.pattern is pattern
    states = output_states(factory)
    assert {name for name, on in states.items() if on} == lit


def test_busy_blinks_amber(factory: Any, indicators: Indicators) -> None:
    amber = sim_pin(factory, DEFAULT_PINS.amber)
    amber.clear_states()
    indicators.show(Pattern.BUSY)
    assert amber.wait_for_changes(3, WAIT)  # on, off, on
    on_time = amber.states[2].timestamp  # time spent on before switching off
    assert 0.2 <= on_time <= 0.5
    assert not output_states(factory)["green"]


def test_success_beeps_once(factory: Any, indicators: Indicators) -> None:
    buzzer = sim_pin(factory, DEFAULT_PINS.buzzer)
    buzzer.clear_states()
    indicators.show(Pattern.SUCCESS)
    assert output_states(factory)["green"]
    assert buzzer.wait_for_changes(2, WAIT)
    assert wait_for_pin(factory, DEFAULT_PINS.buzzer, False, WAIT)
    assert [s.state for s in buzzer.states] == [False, True, False]


def test_failure_beeps_three_times(factory: Any, indicators: Indicators) -> None:
    buzzer = sim_pin(factory, DEFAULT_PINS.buzzer)
    buzzer.clear_states()
    indicators.show(Pattern.FAILURE)
    assert output_states(factory)["red"]
    assert buzzer.wait_for_changes(6, WAIT)
    assert [s.state for s in buzzer.states] == [False] + [True, False] * 3


def test_tamper_blinks_until_the_next_pattern(factory: Any, indicators: Indicators) -> None:
    red = sim_pin(factory, DEFAULT_PINS.red)
    red.clear_states()
    indicators.show(Pattern.TAMPER)
    assert red.wait_for_changes(4, WAIT)
    indicators.show(Pattern.IDLE)  # stops (and joins) the blink threads
    changes = len(red.states)
    assert output_states(factory) == {"green": True, "amber": False, "red": False, "buzzer": False}
    assert len(red.states) == changes


def test_every_pattern_has_a_look() -> None:
    assert set(LOOKS) == set(Pattern)
    for look in LOOKS.values():
        for drive in (look.green, look.amber, look.red, look.buzzer):
            assert isinstance(drive, bool | Blink)


def test_a_pin_in_use_is_a_gpio_error(factory: Any, indicators: Indicators) -> None:
    with pytest.raises(GpioError):
        Indicators(pin_factory=factory)
    with pytest.raises(GpioError):
        TamperSwitch(DEFAULT_PINS.red, pin_factory=factory, on_change=lambda _: None)


def test_show_after_close_is_a_gpio_error(factory: Any) -> None:
    leds = Indicators(pin_factory=factory)
    leds.close()
    with pytest.raises(GpioError):
        leds.show(Pattern.IDLE)


def test_tamper_switch_reports_open_and_close(factory: Any) -> None:
    enclosure = Enclosure(factory)
    events: list[bool] = []
    switch = TamperSwitch(pin_factory=factory, on_change=events.append, bounce_time=None)
    try:
        assert not switch.tampered
        assert events == []
        enclosure.open()
        assert switch.tampered
        assert enclosure.is_open
        enclosure.close()
        assert not switch.tampered
        enclosure.cut_wire()
        assert switch.tampered
        assert events == [True, False, True]
    finally:
        switch.close()


def test_missing_switch_reads_as_tampered(factory: Any) -> None:
    switch = TamperSwitch(pin_factory=factory, on_change=lambda _: None)
    try:
        assert switch.tampered  # the pull-up wins when nothing holds the line low
    finally:
        switch.close()
