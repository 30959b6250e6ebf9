"""Where MicroPython and CPython differ in ways the firmware could trip on, pinned down on both
(these run on CPython with the stand-ins and on MicroPython's unix port).

- bool and int: on MicroPython isinstance(True, int) is False; on CPython it is True.
- Small ints: an RP2040 (32-bit core) keeps ints in -2**30 .. 2**30 - 1 without allocating;
  beyond that they are heap-allocated big ints (fine in the loop, never in an interrupt).
- Ticks: ticks_ms wraps at 2**30 on a 32-bit port (2**62 on the 64-bit unix port);
  ticks_diff measures spans of less than half the period, 2**29 ms (about 6.2 days).
"""

import struct
import sys

import utime

from firmware import link
from firmware import messages as msg
from firmware.config import Config, span_limits
from firmware.state import State, decode_state
from tests.firmware.fakes import Rig, quick_config

MICROPYTHON = sys.implementation.name == "micropython"
SMALL_INT_MAX = (1 << 30) - 1  # 32-bit MicroPython: 31-bit signed small ints
TICKS_PERIOD = 1 << 30  # the RP2040's ticks_ms period
TICKS_SPAN = (1 << 29) - 1  # the longest span ticks_diff measures there


def _tampers(frames):
    return [struct.unpack(">BI", f[2]) for f in frames if f[0] == link.TAMPER]


# --- bool and int -----------------------------------------------------------------------------


def test_bool_is_an_int_on_cpython_only():
    assert isinstance(True, int) is not MICROPYTHON
    # what does agree: comparison, arithmetic, int() and formatting
    assert True == 1 and False == 0
    assert True + 1 == 2 and int(True) == 1 and type(int(False)) is int
    assert str(int(True)) == "1" and str(int(False)) == "0"


def test_config_values_are_plain_ints_whatever_the_json_said():
    config = Config({"light_above": True, "relay_cut_level": False, "misses": 3})
    assert config.errors == []
    for value in (config.light_above, config.relay_cut_level, config.misses):
        assert type(value) is int
    assert Config({"misses": 3.0}).errors == ["misses"]  # JSON 3.0 is a float on both


# --- small ints on a 32-bit core --------------------------------------------------------------


def test_every_setting_fits_a_small_int_and_every_span_fits_ticks_diff():
    for name, lowest, highest in span_limits():
        assert 0 <= lowest <= highest <= TICKS_SPAN, name


def test_the_longest_watchdog_span_fits_ticks_diff():
    config = Config({"heartbeat_ms": 600000, "misses": 1000})
    assert config.misses * config.heartbeat_ms <= TICKS_SPAN
    assert sorted(config.errors) == ["heartbeat_ms", "misses"]
    biggest = Config({"heartbeat_ms": 600000, "misses": 100, "boot_grace_ms": 3600000})
    assert biggest.errors == []
    assert biggest.misses * biggest.heartbeat_ms <= TICKS_SPAN
    assert biggest.link_timeout() <= TICKS_SPAN


def test_u32_counters_past_the_small_int_range_round_trip():
    state = State()
    state.tamper_seq = 0xFFFFFFFF
    state.clear_counter = SMALL_INT_MAX + 1
    state.reset_count = 0x80000000
    loaded = decode_state(state.encode())
    assert loaded.tamper_seq == 0xFFFFFFFF
    assert loaded.clear_counter == SMALL_INT_MAX + 1
    assert loaded.reset_count == 0x80000000


def test_tamper_sequence_wraps_past_u32_to_one():
    rig = Rig()
    rig.sup.state.tamper_seq = 0xFFFFFFFF
    rig.send(link.HELLO, b"\x01")
    rig.step(0)
    rig.received()
    rig.enclosure.level = 1
    rig.run_for(100)
    assert rig.sup.state.tamper_seq == 1  # never 0: 0 means "never latched"
    assert _tampers(rig.received())[0] == (msg.CAUSE_ENCLOSURE, 1)


# --- ticks wrap-around --------------------------------------------------------------------------


def test_this_interpreters_ticks_period():
    period = utime.ticks_add(0, -1) + 1
    if MICROPYTHON and sys.maxsize > (1 << 32):
        assert period == 1 << 62  # the 64-bit unix port
    else:
        assert period == TICKS_PERIOD  # a 32-bit port (the RP2040) and the CPython stand-in
    top = period - 1
    assert utime.ticks_add(top, 1) == 0
    assert utime.ticks_diff(0, top) == 1 and utime.ticks_diff(top, 0) == -1
    assert utime.ticks_diff(utime.ticks_add(7, -10), 7) == -10


def test_fake_clock_wraps_like_the_rp2040():
    rig = Rig(start_ms=TICKS_PERIOD - 5)
    clock = rig.clock
    assert clock.ticks_add(clock.now, 10) == 5
    assert clock.ticks_diff(5, TICKS_PERIOD - 5) == 10
    assert clock.ticks_diff(TICKS_PERIOD // 2 - 1, 0) == TICKS_PERIOD // 2 - 1
    assert clock.ticks_diff(TICKS_PERIOD // 2, 0) == -(TICKS_PERIOD // 2)


def test_supervisor_loop_across_the_wrap():
    # Tamper debounce, tamper report repeats, LED pattern and link timeout all run over the wrap.
    start = TICKS_PERIOD - 700
    rig = Rig(config=quick_config(report_ms=300), start_ms=start)
    rig.send(link.HELLO, b"\x01")
    rig.step(0)
    rig.received()
    rig.send(link.HEARTBEAT)
    rig.run_for(640)  # 60 ms before the wrap
    rig.enclosure.level = 1
    rig.run_for(100)  # the debounce (50 ms) completes after the wrap
    assert rig.clock.now < 1000
    assert rig.sup.state.latched
    rig.send(link.HEARTBEAT)
    rig.run_for(600)
    assert len(_tampers(rig.received())) == 3  # at once, then every 300 ms
    assert rig.sup.display_pattern() == msg.TAMPERED
    assert rig.leds[1].level or rig.leds[1].history
    rig.run_for(2000)  # no heartbeat for 2 N: the link drops
    assert not rig.sup.link_up


def test_uptime_counts_across_the_wrap():
    rig = Rig(start_ms=TICKS_PERIOD - 2500)
    for _ in range(50):
        rig.send(link.HEARTBEAT)
        rig.run_for(100)
    assert rig.sup.uptime_s() == 5
