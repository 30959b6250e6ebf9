"""The flash file of the latch and the settings file."""

import os

from firmware import messages as msg
from firmware.config import CONFIG_FILE, Config, load_config
from firmware.state import STATE_FILE, State, decode_state, load_state, save_state
from firmware.store import FileStore


def test_state_round_trips_through_the_file():
    store = FileStore()
    state = State()
    state.latched = True
    state.causes = msg.CAUSE_LIGHT
    state.tamper_seq = 0xFFFFFFFF
    state.clear_counter = 12
    state.reset_count = 3
    save_state(store, state)
    loaded = load_state(store)
    assert (loaded.latched, loaded.causes, loaded.tamper_seq) == (True, msg.CAUSE_LIGHT, 0xFFFFFFFF)
    assert (loaded.clear_counter, loaded.reset_count) == (12, 3)


def test_missing_file_is_a_fresh_unlatched_state():
    state = load_state(FileStore())
    assert not state.latched and state.tamper_seq == 0 and state.clear_counter == 0


def test_every_single_bit_flip_is_detected():
    data = State().encode()
    for i in range(len(data) * 8):
        damaged = bytearray(data)
        damaged[i // 8] ^= 1 << (i % 8)
        assert decode_state(bytes(damaged)) is None, i


def test_damaged_file_loads_latched_with_a_random_sequence():
    store = FileStore()
    store.write(STATE_FILE, State().encode()[:-1])
    first = load_state(store)
    second = load_state(store)
    assert first.latched and first.causes == msg.CAUSE_STORAGE
    assert first.tamper_seq != 0 and first.tamper_seq != second.tamper_seq


def test_write_replaces_the_file_and_leaves_no_temp_file():
    store = FileStore()
    store.write("x.dat", b"one")
    store.write("x.dat", b"two")
    assert store.read("x.dat") == b"two"
    assert store.read("x.dat.tmp") is None


def test_temp_file_is_used_when_the_rename_was_interrupted():
    store = FileStore()
    with open("x.dat.tmp", "wb") as f:
        f.write(b"newest")
    assert store.read("x.dat") == b"newest"


def test_store_under_a_root_directory():
    os.mkdir("flash")
    store = FileStore("flash/")
    store.write("a", b"1")
    assert FileStore("flash").read("a") == b"1"
    assert store.path("a") == "flash/a"


def test_config_file_overrides_defaults_and_lists_bad_values():
    store = FileStore()
    store.write(
        CONFIG_FILE,
        b'{"heartbeat_ms": 2000, "misses": 0, "relay_off_ms": "5", "nonsense": 1,'
        b' "light_above": false}',
    )
    config = load_config(store)
    assert config.heartbeat_ms == 2000
    assert config.misses == 6
    assert config.relay_off_ms == 5000
    assert config.light_above == 0
    assert sorted(config.errors) == ["misses", "nonsense", "relay_off_ms"]


def test_unreadable_config_file_gives_defaults():
    store = FileStore()
    store.write(CONFIG_FILE, b"\xff{")
    config = load_config(store)
    assert config.heartbeat_ms == Config().heartbeat_ms
    assert config.errors == [CONFIG_FILE]


def test_link_timeout_defaults_to_two_heartbeats():
    assert Config({"heartbeat_ms": 700}).link_timeout() == 1400
    assert Config({"heartbeat_ms": 700, "link_timeout_ms": 900}).link_timeout() == 900


def test_json_true_and_false_set_the_on_off_settings():
    # MicroPython's bool is not an int (isinstance(True, int) is False there): the loader must
    # take true/false itself, or a device configured with them silently keeps its defaults.
    store = FileStore()
    store.write(
        CONFIG_FILE,
        b'{"light_above": false, "enclosure_open_level": false, "relay_cut_level": true}',
    )
    config = load_config(store)
    assert config.errors == []
    assert (config.light_above, config.enclosure_open_level, config.relay_cut_level) == (0, 0, 1)
    assert type(config.light_above) is int and type(config.relay_cut_level) is int


def test_true_and_false_are_refused_for_numeric_settings():
    config = Config({"heartbeat_ms": True, "misses": False, "debounce_ms": True})
    assert sorted(config.errors) == ["debounce_ms", "heartbeat_ms", "misses"]
    assert (config.heartbeat_ms, config.misses, config.debounce_ms) == (5000, 6, 50)
