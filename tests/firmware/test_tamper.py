"""Tamper latch: the switch and the light sensor latch an event in flash that is reported at
every connect until an authenticated clear; forged and replayed clears are refused."""

import struct

from firmware import link
from firmware import messages as msg
from firmware.auth import clear_mac
from firmware.state import KEY_FILE, STATE_FILE, load_state
from firmware.store import FileStore
from tests.firmware.fakes import Rig, quick_config

KEY = bytes(range(32))


def _tampers(frames):
    return [struct.unpack(">BI", f[2]) for f in frames if f[0] == link.TAMPER]


def _connect(rig):
    """The agent says hello; return the frames the MCU answered with."""
    rig.send(link.HELLO, b"\x01")
    rig.step(0)
    return rig.received()


def _status(rig):
    frames = [f for f in rig.exchange(link.GET_STATUS) if f[0] == link.STATUS]
    assert len(frames) == 1
    return struct.unpack(msg.STATUS_FORMAT, frames[0][2])


def _clear(rig, counter, key=KEY, tamper_seq=None):
    if tamper_seq is None:
        tamper_seq = rig.sup.state.tamper_seq
    payload = struct.pack(">I", counter) + clear_mac(key, counter, tamper_seq)
    return [f for f in rig.exchange(link.CLEAR_TAMPER, payload) if f[0] in (link.ACK, link.NAK)]


def _provisioned_rig(**config):
    FileStore().write(KEY_FILE, KEY)
    return Rig(config=quick_config(**config))


def _open_enclosure(rig, ms=100):
    rig.enclosure.level = 1
    rig.run_for(ms)


def test_enclosure_opened_while_connected_is_latched_and_reported_at_once():
    rig = Rig()
    _connect(rig)
    rig.enclosure.level = 1
    rig.run_for(50)  # first seen open 10 ms in: 40 ms of the 50 ms debounce have passed
    assert _tampers(rig.received()) == []
    rig.run_for(10)
    assert _tampers(rig.received()) == [(msg.CAUSE_ENCLOSURE, 1)]
    assert rig.sup.state.latched
    assert rig.event_names().count("tamper") == 1
    assert load_state(FileStore()).latched


def test_a_glitch_shorter_than_the_debounce_time_is_ignored():
    rig = Rig()
    for _ in range(20):
        rig.enclosure.level = 1
        rig.run_for(40)
        rig.enclosure.level = 0
        rig.run_for(10)
    assert not rig.sup.state.latched


def test_light_above_the_threshold_latches_the_light_cause():
    rig = Rig()
    _connect(rig)
    rig.light.reading = 30000
    rig.run_for(100)
    assert _tampers(rig.received()) == [(msg.CAUSE_LIGHT, 1)]


def test_light_below_the_threshold_latches_when_so_configured():
    rig = Rig(config=quick_config(light_above=0, light_threshold=500))
    rig.light.reading = 1000
    rig.run_for(100)
    assert not rig.sup.state.latched
    rig.light.reading = 100
    rig.run_for(100)
    assert rig.sup.state.causes == msg.CAUSE_LIGHT


def test_second_cause_joins_the_same_latch():
    rig = Rig()
    _connect(rig)
    _open_enclosure(rig)
    rig.light.reading = 60000
    rig.run_for(100)
    both = msg.CAUSE_ENCLOSURE | msg.CAUSE_LIGHT
    assert _tampers(rig.received()) == [(msg.CAUSE_ENCLOSURE, 1), (both, 1)]


def test_tamper_while_the_link_is_down_is_reported_when_it_comes_back():
    rig = Rig()
    _connect(rig)
    rig.run_for(3000)  # no frames for more than the link timeout (2 heartbeats)
    assert not rig.sup.link_up
    rig.received()
    _open_enclosure(rig)
    rig.enclosure.level = 0  # closed again before the Pi returns
    rig.run_for(5000)
    assert _tampers(rig.received()) == [], "reported into a dead link"
    rig.send(link.HEARTBEAT)
    rig.step(0)
    assert _tampers(rig.received()) == [(msg.CAUSE_ENCLOSURE, 1)]


def test_tamper_while_the_pi_is_powered_off_is_reported_after_it_boots():
    rig = Rig()
    rig.run_for(10000)  # the Pi never sent a heartbeat: power cut
    assert not rig.sup.watchdog.powered()
    _open_enclosure(rig)
    rig.run_for(2000)  # power restored, the Pi boots
    assert rig.sup.watchdog.powered()
    assert _tampers(_connect(rig)) == [(msg.CAUSE_ENCLOSURE, 1)]


def test_every_connect_reports_the_latch_until_it_is_cleared():
    rig = _provisioned_rig()
    _open_enclosure(rig)
    rig.enclosure.level = 0
    for _ in range(3):
        frames = _connect(rig)
        assert frames[0][0] == link.STATUS
        assert _tampers(frames) == [(msg.CAUSE_ENCLOSURE, 1)]
    assert _clear(rig, 1) == [(link.ACK, rig.seq, bytes((link.CLEAR_TAMPER,)))]
    assert _tampers(_connect(rig)) == []


def test_unacknowledged_report_is_repeated_and_an_acknowledged_one_is_not():
    rig = Rig()
    _connect(rig)
    _open_enclosure(rig)
    rig.run_for(1000)
    assert len(_tampers(rig.received())) == 3  # at once, then every 500 ms
    rig.send(link.TAMPER_ACK, struct.pack(">I", 1))
    for _ in range(10):
        rig.send(link.HEARTBEAT)
        rig.run_for(500)
    assert _tampers(rig.received()) == []


def test_latch_survives_an_mcu_restart():
    rig = Rig()
    _open_enclosure(rig)
    rig.enclosure.level = 0
    assert rig.sup.state.latched
    del rig
    restarted = Rig()
    assert restarted.sup.state.latched
    assert "latched" in restarted.event_names()
    assert _tampers(_connect(restarted)) == [(msg.CAUSE_ENCLOSURE, 1)]
    status = _status(restarted)
    assert status[1] & msg.FLAG_LATCHED and status[2] == msg.CAUSE_ENCLOSURE


def test_authenticated_clear_releases_the_latch_for_good():
    rig = _provisioned_rig()
    _open_enclosure(rig)
    rig.enclosure.level = 0
    rig.run_for(100)
    assert _clear(rig, 1)[0][0] == link.ACK
    assert not rig.sup.state.latched
    assert "tamper_cleared" in rig.event_names()
    restarted = Rig()
    assert not restarted.sup.state.latched
    assert restarted.sup.state.clear_counter == 1


def test_forged_clear_is_refused():
    rig = _provisioned_rig()
    _open_enclosure(rig)
    rig.enclosure.level = 0
    answer = _clear(rig, 1, key=bytes(32))
    assert answer == [(link.NAK, rig.seq, bytes((link.CLEAR_TAMPER, msg.AUTH_FAILED)))]
    assert rig.sup.state.latched


def test_clear_with_a_tampered_mac_byte_is_refused():
    rig = _provisioned_rig()
    _open_enclosure(rig)
    payload = bytearray(struct.pack(">I", 1) + clear_mac(KEY, 1, rig.sup.state.tamper_seq))
    payload[-1] ^= 1
    answer = rig.exchange(link.CLEAR_TAMPER, bytes(payload))
    assert answer[0][2] == bytes((link.CLEAR_TAMPER, msg.AUTH_FAILED))
    assert rig.sup.state.latched


def test_replayed_clear_is_refused():
    rig = _provisioned_rig()
    _open_enclosure(rig)
    rig.enclosure.level = 0
    rig.run_for(100)
    frame = link.encode(
        link.CLEAR_TAMPER, 7, struct.pack(">I", 5) + clear_mac(KEY, 5, rig.sup.state.tamper_seq)
    )
    rig.uart.inject(frame)
    rig.step(0)
    assert rig.received()[0][0] == link.ACK
    # The same bytes again, with no new latch in between: the counter is not above 5.
    rig.uart.inject(frame)
    rig.step(0)
    assert rig.received()[0][2] == bytes((link.CLEAR_TAMPER, msg.REPLAYED))
    # A new tamper event: the old clear no longer matches its latch sequence either.
    _open_enclosure(rig)
    rig.uart.inject(frame)
    rig.step(0)
    assert [f[2] for f in rig.received() if f[0] == link.NAK] == [
        bytes((link.CLEAR_TAMPER, msg.AUTH_FAILED))
    ]
    assert rig.sup.state.latched
    # A genuine clear for the new latch with a counter that was used before is a replay too.
    assert _clear(rig, 5)[0][2] == bytes((link.CLEAR_TAMPER, msg.REPLAYED))
    assert _clear(rig, 6)[0][0] == link.ACK


def test_replay_protection_survives_an_mcu_restart():
    rig = _provisioned_rig()
    _open_enclosure(rig)
    rig.enclosure.level = 0
    rig.run_for(100)
    assert _clear(rig, 3)[0][0] == link.ACK
    restarted = Rig()
    assert _clear(restarted, 3)[0][2] == bytes((link.CLEAR_TAMPER, msg.REPLAYED))


def test_clear_while_the_enclosure_is_still_open_latches_again():
    rig = _provisioned_rig()
    _open_enclosure(rig)
    assert _clear(rig, 1)[0][0] == link.ACK
    rig.run_for(10)
    assert rig.sup.state.latched
    assert rig.sup.state.tamper_seq == 2


def test_clear_without_a_provisioned_key_is_refused():
    rig = Rig()
    _open_enclosure(rig)
    assert _clear(rig, 1)[0][2] == bytes((link.CLEAR_TAMPER, msg.NO_KEY))


def test_key_can_be_set_once_over_the_link():
    rig = Rig()
    assert rig.exchange(link.SET_KEY, KEY)[0][0] == link.ACK
    assert rig.exchange(link.SET_KEY, bytes(32))[0][2] == bytes((link.SET_KEY, msg.KEY_ALREADY_SET))
    restarted = Rig()
    _open_enclosure(restarted)
    assert _clear(restarted, 1)[0][0] == link.ACK


def test_damaged_latch_file_fails_closed():
    FileStore().write(STATE_FILE, b"garbage")
    rig = Rig()
    assert rig.sup.state.latched
    assert rig.sup.state.causes == msg.CAUSE_STORAGE
    assert _tampers(_connect(rig)) == [(msg.CAUSE_STORAGE, rig.sup.state.tamper_seq)]


def test_flash_failure_during_clear_keeps_the_latch():
    FileStore().write(KEY_FILE, KEY)

    class FullFlash(FileStore):
        def write(self, name, data):
            raise OSError(28)

    rig = Rig(store=FullFlash())
    _open_enclosure(rig)
    assert rig.sup.state.latched  # latched in RAM even though the flash refused
    assert "storage_error" in rig.event_names()
    assert _clear(rig, 1)[0][2] == bytes((link.CLEAR_TAMPER, msg.STORAGE_FAILED))
    assert rig.sup.state.latched
    assert rig.sup.state.clear_counter == 0


def test_status_reports_inputs_latch_and_key():
    rig = _provisioned_rig()
    rig.enclosure.level = 1
    rig.run_for(100)
    status = _status(rig)
    version, flags, causes, pattern, resets, tamper_seq, counter = status[:7]
    assert version == msg.PROTOCOL_VERSION
    assert flags == msg.FLAG_LATCHED | msg.FLAG_ENCLOSURE_OPEN | msg.FLAG_KEY_SET
    assert (causes, pattern, resets, tamper_seq, counter) == (
        msg.CAUSE_ENCLOSURE,
        msg.TAMPERED,
        0,
        1,
        0,
    )
