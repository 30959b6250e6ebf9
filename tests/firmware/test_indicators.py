"""LED patterns and the buzzer, set by the agent; tamper and a silent Pi override the pattern."""

from firmware import link
from firmware import messages as msg
from firmware.indicators import PATTERNS, pattern_mask
from tests.firmware.fakes import Rig

GREEN = 1
RED = 2


def _mask(rig):
    return rig.leds[0].level | (rig.leds[1].level << 1)


def _connected_rig():
    rig = Rig()
    rig.send(link.HELLO, b"\x01")
    rig.step(0)
    rig.received()
    return rig


def _keep_alive(rig, ms):
    for _ in range(ms // 500):
        rig.send(link.HEARTBEAT)
        rig.run_for(500)


def test_every_pattern_has_a_period_that_divides_a_minute():
    assert sorted(PATTERNS) == list(range(msg.PATTERN_COUNT))
    for steps in PATTERNS.values():
        period = sum(step[1] for step in steps)
        assert 60000 % period == 0


def test_pattern_mask_walks_the_steps():
    assert pattern_mask(msg.IDLE, 0) == GREEN
    assert pattern_mask(msg.IDLE, 199) == GREEN
    assert pattern_mask(msg.IDLE, 200) == 0
    assert pattern_mask(msg.IDLE, 2000) == GREEN
    assert pattern_mask(msg.TAMPERED, 150) == 0
    assert pattern_mask(msg.FAILURE, 123456) == RED


def test_agent_sets_the_pattern():
    rig = _connected_rig()
    for pattern, mask in ((msg.SUCCESS, GREEN), (msg.FAILURE, RED)):
        seq = rig.send(link.SET_PATTERN, bytes((pattern,)))
        rig.step(0)
        assert rig.received() == [(link.ACK, seq, bytes((link.SET_PATTERN,)))]
        assert _mask(rig) == mask
    rig.send(link.SET_PATTERN, bytes((msg.BUSY,)))
    rig.step(0)
    seen = set()
    for _ in range(30):
        rig.step(10)
        seen.add(_mask(rig))
    assert seen == {0, GREEN}


def test_a_silent_pi_shows_failure_and_tamper_beats_everything():
    rig = _connected_rig()
    rig.send(link.SET_PATTERN, bytes((msg.SUCCESS,)))
    _keep_alive(rig, 3000)
    assert rig.sup.display_pattern() == msg.SUCCESS
    rig.run_for(3000)
    assert rig.sup.display_pattern() == msg.FAILURE
    assert _mask(rig) == RED
    rig.enclosure.level = 1
    rig.send(link.HEARTBEAT)
    rig.run_for(100)
    assert rig.sup.display_pattern() == msg.TAMPERED


def test_buzzer_sounds_for_the_requested_time():
    rig = _connected_rig()
    seq = rig.send(link.BUZZER, b"\x00\xfa")  # 250 ms
    rig.step(0)
    assert rig.received() == [(link.ACK, seq, bytes((link.BUZZER,)))]
    assert rig.buzzer.level == 1
    rig.run_for(240)
    assert rig.buzzer.level == 1
    rig.run_for(10)
    assert rig.buzzer.level == 0


def test_buzzer_zero_silences_it():
    rig = _connected_rig()
    rig.send(link.BUZZER, b"\x03\xe8")
    rig.step(0)
    rig.send(link.BUZZER, b"\x00\x00")
    rig.step(0)
    assert rig.buzzer.level == 0


def test_leds_are_written_only_when_they_change():
    rig = _connected_rig()
    rig.send(link.SET_PATTERN, bytes((msg.SUCCESS,)))
    _keep_alive(rig, 10000)
    assert len(rig.leds[0].history) <= 2
