"""What the MCU keeps in flash across restarts: the tamper latch, the clear counter and the
number of power cycles, in one small file with a CRC."""

import os
import struct

from firmware.link import crc16
from firmware.messages import CAUSE_STORAGE

STATE_FILE = "state.dat"
KEY_FILE = "key.dat"
_MAGIC = b"PBS1"
_FORMAT = ">4sBBIII"  # magic, latched, causes, tamper_seq, clear_counter, reset_count


class State:
    """The persistent state; tamper_seq numbers latches, clear_counter only ever grows."""

    def __init__(self):
        self.latched = False
        self.causes = 0
        self.tamper_seq = 0
        self.clear_counter = 0
        self.reset_count = 0

    def encode(self):
        """The file bytes of this state."""
        body = struct.pack(
            _FORMAT,
            _MAGIC,
            1 if self.latched else 0,
            self.causes,
            self.tamper_seq,
            self.clear_counter,
            self.reset_count,
        )
        crc = crc16(body)
        return body + bytes((crc >> 8, crc & 0xFF))


def decode_state(data):
    """Parse the file bytes; return None if they are not a valid state."""
    size = struct.calcsize(_FORMAT)
    if len(data) != size + 2 or crc16(data[:size]) != (data[size] << 8) | data[size + 1]:
        return None
    magic, latched, causes, tamper_seq, clear_counter, reset_count = struct.unpack(
        _FORMAT, data[:size]
    )
    if magic != _MAGIC or latched > 1:
        return None
    state = State()
    state.latched = latched == 1
    state.causes = causes
    state.tamper_seq = tamper_seq
    state.clear_counter = clear_counter
    state.reset_count = reset_count
    return state


def load_state(store):
    """The stored state; a fresh one if there is none; a latched one if the file is damaged."""
    data = store.read(STATE_FILE)
    if data is None:
        return State()
    state = decode_state(data)
    if state is None:
        state = State()
        state.latched = True
        state.causes = CAUSE_STORAGE
        # The counters are lost: a random sequence keeps old clear commands from matching.
        state.tamper_seq = struct.unpack(">I", os.urandom(4))[0] | 1
    return state


def save_state(store, state):
    """Write the state; raise OSError if the flash refuses."""
    store.write(STATE_FILE, state.encode())
