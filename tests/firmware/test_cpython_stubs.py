"""The CPython stand-ins of machine and utime themselves (CPython only: they are what
firmware/stubs gives CPython; test_main.py runs main.py on them and on MicroPython)."""

import machine
import utime


def _board():
    sim = machine.Board()
    outputs = []
    sim.on_output = lambda gpio, level: outputs.append((gpio, level))
    machine.set_board(sim)
    return sim, outputs


def test_stub_ticks_wrap_like_micropython():
    top = utime.TICKS_PERIOD - 1
    assert utime.ticks_add(top, 1) == 0
    assert utime.ticks_diff(0, top) == 1
    assert utime.ticks_diff(top, 0) == -1
    assert utime.ticks_diff(utime.ticks_add(5, -10), 5) == -10
    assert 0 <= utime.ticks_ms() <= top


def test_stub_pins_and_adc():
    sim, outputs = _board()
    try:
        pin = machine.Pin(9, machine.Pin.IN, machine.Pin.PULL_UP)
        assert pin.value() == 1  # pulled up, nothing driving it
        sim.set_input(9, 0)
        assert pin.value() == 0
        sim.set_adc(26, 1000)
        assert machine.ADC(0).read_u16() == 1000  # ADC0 is GPIO26
        assert machine.ADC(machine.Pin(26)).read_u16() == 1000
        out = machine.Pin(7, machine.Pin.OUT, value=1)
        out.toggle()
        assert outputs[-2:] == [(7, 1), (7, 0)]
    finally:
        machine.set_board(machine.Board())
