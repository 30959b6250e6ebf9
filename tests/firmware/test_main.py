"""main.py, the entry point, on a simulated board: the CPython stand-ins of machine and utime
under CPython, firmware/unix/machine.py and the real utime on MicroPython's unix port."""

import machine

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
        self.to_mcu = self.to_mcu[size:]  # no del of a slice: MicroPython's bytearray lacks it
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


def _stop_after(passes):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > passes

    return stop


def test_build_wires_the_supervisor_to_the_board():
    FileStore().write(CONFIG_FILE, b'{"wdt_ms": 3000, "relay_cut_level": false}')
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


def test_main_runs_until_stopped_and_feeds_the_watchdog():
    sim, _, _ = _board()
    try:
        events = []
        firmware_main.main(on_event=lambda name, value: events.append(name), stop=_stop_after(2))
        assert sim.wdt_feeds >= 3  # once when started, then on every pass
        assert events == ["boot"]
    finally:
        machine.set_board(machine.Board())


def test_a_watchdog_reset_is_reported_at_boot():
    sim, _, _ = _board()
    sim.reset_cause = machine.WDT_RESET
    try:
        events = []
        firmware_main.main(on_event=lambda name, value: events.append(name), stop=_stop_after(1))
        assert events[:2] == ["mcu_watchdog_reset", "boot"]
    finally:
        machine.set_board(machine.Board())


def test_the_board_has_what_main_uses():
    assert machine.PWRON_RESET != machine.WDT_RESET
    assert machine.reset_cause() == machine.PWRON_RESET
    assert machine.Pin.OUT != machine.Pin.IN and machine.Pin.PULL_UP


def test_build_reports_the_board_unique_id():
    _board()
    supervisor = firmware_main.build(lambda name, value: None)
    assert supervisor.board_id == machine.unique_id()
    assert 1 <= len(supervisor.board_id) <= 16
