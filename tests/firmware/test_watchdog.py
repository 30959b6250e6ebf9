"""Watchdog of the Pi: heartbeats every N ms, M misses cut the power for T ms, then restore it.

quick_config: N = 1000, M = 3, T = 2000, boot grace 10000 (doubling up to 40000).
"""

from firmware import link
from firmware.config import Config
from firmware.watchdog import BOOTING, OFF, RUNNING
from tests.firmware.fakes import Rig, quick_config


def _status(rig):
    frames = rig.exchange(link.GET_STATUS)
    status = [f for f in frames if f[0] == link.STATUS]
    assert len(status) == 1
    return status[0][2]


def _reset_count(payload):
    return (payload[4] << 24) | (payload[5] << 16) | (payload[6] << 8) | payload[7]


def test_no_power_cycle_while_heartbeats_flow():
    rig = Rig()
    rig.heartbeat_every(1000, 120000)
    assert rig.power_cuts() == 0
    assert rig.sup.watchdog.state == RUNNING
    assert "power_cut" not in rig.event_names()


def test_late_but_not_missed_heartbeats_keep_the_pi_powered():
    rig = Rig()
    rig.heartbeat_every(2990, 60000)  # just under M * N between heartbeats
    assert rig.power_cuts() == 0


def test_hung_agent_gets_exactly_one_power_cycle_after_m_misses():
    rig = Rig()
    rig.heartbeat_every(1000, 5000)  # last heartbeat at 4000 ms after start
    rig.send(link.HEARTBEAT)
    rig.step(0)
    last = rig.clock.now
    rig.run_for(2990)
    assert rig.power_cuts() == 0, "cut before M * N"
    rig.run_for(10)
    assert rig.power_cuts() == 1
    assert rig.clock.ticks_diff(rig.relay.history[-1][0], last) == 3000
    assert rig.sup.watchdog.state == OFF
    rig.run_for(1990)
    assert rig.power_restores() == 0, "restored before T"
    rig.run_for(10)
    assert rig.power_restores() == 1
    assert rig.sup.watchdog.state == BOOTING
    # The Pi boots and its agent heartbeats again: no second cycle, however long.
    rig.run_for(5000)
    rig.heartbeat_every(1000, 60000)
    assert rig.power_cuts() == 1
    assert rig.event_names().count("power_cut") == 1
    assert _reset_count(_status(rig)) == 1


def test_relay_levels_follow_the_configured_cut_level():
    rig = Rig(config=quick_config(relay_cut_level=0))
    assert rig.relay.level == 1  # powered
    rig.run_for(10000)  # boot grace passes without a heartbeat
    assert rig.relay.level == 0
    assert rig.power_cuts() == 1


def test_silent_pi_after_power_up_is_cycled_again_with_growing_grace():
    rig = Rig()
    cuts = []
    for _ in range(120000 // 10):
        before = rig.power_cuts()
        rig.step(10)
        if rig.power_cuts() != before:
            cuts.append(rig.clock.now)
    gaps = [cuts[i + 1] - cuts[i] for i in range(len(cuts) - 1)]
    # grace 10 s at MCU start, then (off 2 s + grace) with the grace doubled up to 40 s
    assert cuts[0] == 10000
    assert gaps == [2000 + 20000, 2000 + 40000, 2000 + 40000]


def test_one_heartbeat_after_boot_resets_the_backoff():
    rig = Rig()
    rig.run_for(10000 + 2000 + 20000)
    assert rig.power_cuts() == 2
    rig.run_for(2000)  # powered again
    rig.send(link.HEARTBEAT)
    rig.step(0)
    assert rig.sup.watchdog.failed_boots == 0
    assert rig.sup.watchdog.grace_ms() == 10000


def test_heartbeats_during_power_off_do_not_shorten_it():
    rig = Rig()
    rig.run_for(10000)
    assert rig.sup.watchdog.state == OFF
    rig.send(link.HEARTBEAT)
    rig.step(10)
    assert rig.sup.watchdog.state == OFF


def test_watchdog_works_across_the_tick_counter_wrap():
    start = (1 << 30) - 1500  # ticks_ms wraps 1.5 s into the test
    rig = Rig(start_ms=start)
    rig.heartbeat_every(1000, 8000)
    assert rig.power_cuts() == 0
    rig.run_for(3000)
    assert rig.power_cuts() == 1


def test_hardware_watchdog_is_fed_on_every_pass():
    rig = Rig()
    rig.run_for(1000)
    assert rig.wdt.feeds == 100


def test_hardware_watchdog_is_fed_even_when_a_pass_fails():
    rig = Rig()

    class Broken:
        def read_u16(self):
            raise RuntimeError("sensor gone")

    rig.sup.tamper.light = Broken()
    rig.run_for(100)
    assert rig.wdt.feeds == 10
    assert rig.sup.errors == 10


def test_heartbeat_is_acknowledged_with_its_seq():
    rig = Rig()
    seq = rig.send(link.HEARTBEAT)
    rig.step(0)
    assert rig.received() == [(link.ACK, seq, bytes((link.HEARTBEAT,)))]


def test_only_heartbeats_feed_the_watchdog():
    rig = Rig()
    rig.heartbeat_every(1000, 2000)
    for _ in range(40):
        rig.send(link.GET_STATUS)
        rig.step(100)
    assert rig.power_cuts() == 1


def test_config_defaults_match_the_documented_timing():
    config = Config()
    assert (config.heartbeat_ms, config.misses, config.relay_off_ms) == (5000, 6, 5000)
    assert config.link_timeout() == 10000


def test_relay_starts_powered():
    rig = Rig()
    assert rig.relay.history == [(0, 0)]  # driven to "powered" (cut level is 1) at start
