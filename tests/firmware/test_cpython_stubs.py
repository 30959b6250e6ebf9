"""main.py on the CPython stand-ins of machine and utime (CPython only: MicroPython's unix
port has no machine.Pin). The board's wiring and the stubs' tick arithmetic."""

import machine
import utime

from firmware import board, link
from firmware import main as firmware_main
from firmware.config import CONFIG_FILE
from firmware.store import FileStore


class Wire:
    def __init__(self):
        self.to_mcu = bytearray()
        self.from_mcu = bytearray()

    def any(self):
        return len(self.to_mcu)

    def read(self, size):
        data = bytes(self.to_mcu[:size])
        del self.to_mcu[:size]
        return data

    def write(self, data):
        self.from_mcu.extend(data)
        return len(data)


def _board():
    sim = machine.Board()
    sim.set_input(board.ENCLOSURE, 0)
    sim.set_adc(board.LIGHT, 1000)
    wire = Wire()
    sim.uarts[board.UART_ID] = wire
    outputs = []
    sim.on_output = lambda gpio, level: outputs.append((gpio, level))
    machine.set_board(sim)
    return sim, wire, outputs


def test_build_wires_the_supervisor_to_the_board():
    FileStore().write(CONFIG_FILE, b'{"wdt_ms": 3000, "relay_cut_level": 0}')
    sim, wire, outputs = _board()
    try:
        events = []
        supervisor = firmware_main.build(lambda name, value: events.append(name))
        assert (board.RELAY, 1) in outputs  # powered: the cut level is 0 here
        assert sim.wdt_timeout_ms == 3000
        wire.to_mcu.extend(link.encode(link.HELLO, 1, b"\x01"))
        supervisor.poll()
        frames = link.Decoder(link.MCU_TYPES).feed(bytes(wire.from_mcu))
        assert [f[0] for f in frames] == [link.STATUS]
        assert events == ["boot", "link_up"]
        assert sim.level(board.LED_RED) == 0 and sim.level(board.LED_GREEN) == 1
    finally:
        machine.set_board(machine.Board())


def test_main_runs_until_stopped():
    sim, _, _ = _board()
    try:
        calls = []

        def stop():
            calls.append(1)
            return len(calls) > 2  # two passes of the loop

        firmware_main.main(on_event=lambda name, value: None, stop=stop)
        assert sim.wdt_last_feed is not None
    finally:
        machine.set_board(machine.Board())


def test_stub_ticks_wrap_like_micropython():
    top = utime.TICKS_PERIOD - 1
    assert utime.ticks_add(top, 1) == 0
    assert utime.ticks_diff(0, top) == 1
    assert utime.ticks_diff(top, 0) == -1
    assert utime.ticks_diff(utime.ticks_add(5, -10), 5) == -10
    assert 0 <= utime.ticks_ms() <= top


def test_stub_pins_and_adc():
    sim, _, outputs = _board()
    try:
        pin = machine.Pin(9, machine.Pin.IN, machine.Pin.PULL_UP)
        assert pin.value() == 1  # pulled up, nothing driving it
        sim.set_input(9, 0)
        assert pin.value() == 0
        assert machine.ADC(0).read_u16() == 1000  # ADC0 is GPIO26
        assert machine.ADC(machine.Pin(26)).read_u16() == 1000
        out = machine.Pin(7, machine.Pin.OUT, value=1)
        out.toggle()
        assert outputs[-2:] == [(7, 1), (7, 0)]
    finally:
        machine.set_board(machine.Board())
