"""Truncated, corrupted, unknown and malformed frames are dropped and counted; 10,000 random
and mutated frames never stop the loop (a deterministic run; test_cpython_frames_fuzz.py adds
hypothesis)."""

from firmware import link
from firmware import messages as msg
from tests.firmware.fakes import Rig


class XorShift:
    """A small deterministic generator (random is not the same on every MicroPython port)."""

    def __init__(self, seed):
        self.state = seed or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def below(self, n):
        return self.next() % n

    def bytes(self, n):
        return bytes([self.next() & 0xFF for _ in range(n)])


VALID = (
    link.encode(link.HEARTBEAT, 1),
    link.encode(link.HELLO, 2, b"\x01"),
    link.encode(link.SET_PATTERN, 3, b"\x02"),
    link.encode(link.BUZZER, 4, b"\x00\x10"),
    link.encode(link.GET_STATUS, 5),
    link.encode(link.CLEAR_TAMPER, 6, bytes(36)),
    link.encode(link.TAMPER_ACK, 7, b"\x00\x00\x00\x01"),
    link.encode(0x7E, 8, b"unknown"),
)


def mutate(rng, wire):
    """One random damage to a frame's wire bytes."""
    data = bytearray(wire)
    kind = rng.below(8)
    if kind == 0:  # flip a bit
        i = rng.below(len(data))
        data[i] ^= 1 << rng.below(8)
    elif kind == 1:  # cut short
        data = data[: rng.below(len(data))]
    elif kind == 2:  # insert a byte
        i = rng.below(len(data) + 1)
        data = data[:i] + bytes((rng.next() & 0xFF,)) + data[i:]
    elif kind == 3:  # lose a byte
        i = rng.below(len(data))
        data = data[:i] + data[i + 1 :]
    elif kind == 4:  # random bytes
        data = bytearray(rng.bytes(rng.below(80)))
    elif kind == 5:  # splice two frames
        other = VALID[rng.below(len(VALID))]
        data = data[: rng.below(len(data))] + other[rng.below(len(other)) :]
    elif kind == 6:  # overwrite a run
        start = rng.below(len(data))
        for i in range(start, min(len(data), start + 1 + rng.below(8))):
            data[i] = rng.next() & 0xFF
    # kind 7: leave it intact
    return bytes(data)


def test_ten_thousand_random_and_mutated_frames_never_stop_the_loop():
    rng = XorShift(0x5EED)
    rig = Rig()
    for i in range(10000):
        wire = mutate(rng, VALID[rng.below(len(VALID))])
        # deliver in random chunks, one pass of the loop per chunk
        while wire:
            size = 1 + rng.below(24)
            rig.uart.inject(wire[:size])
            wire = wire[size:]
            rig.step(1)
        if i % 100 == 0:
            rig.send(link.HEARTBEAT)
            rig.step(1)
            rig.received()  # keep the answers from piling up (MicroPython's heap is small)
    rig.run_for(200)  # let any half frame expire
    rig.received()
    assert rig.sup.errors == 0
    decoder = rig.sup.decoder
    assert decoder.frames > 1000
    assert decoder.truncated > 100 and decoder.corrupt > 100 and decoder.unknown > 100
    # still answering
    seq = rig.send(link.HEARTBEAT)
    rig.step(0)
    assert rig.received() == [(link.ACK, seq, bytes((link.HEARTBEAT,)))]
    assert rig.power_cuts() == 0


def test_known_messages_with_malformed_payloads_are_refused_and_counted():
    rig = Rig()
    cases = (
        (link.HEARTBEAT, b"\x00"),
        (link.HELLO, b""),
        (link.HELLO, b"\x01\x02"),
        (link.GET_STATUS, b"\x01"),
        (link.SET_PATTERN, b""),
        (link.SET_PATTERN, bytes((msg.PATTERN_COUNT,))),
        (link.BUZZER, b"\x01"),
        (link.BUZZER, b"\xff\xff"),
        (link.CLEAR_TAMPER, bytes(35)),
        (link.SET_KEY, bytes(31)),
        (link.TAMPER_ACK, b"\x01"),
    )
    for mtype, payload in cases:
        seq = rig.send(mtype, payload)
        rig.step(0)
        assert rig.received() == [(link.NAK, seq, bytes((mtype, msg.MALFORMED)))], mtype
    assert rig.sup.malformed == len(cases)
    assert rig.sup.errors == 0


def test_drop_counters_are_reported_in_status():
    rig = Rig()
    good = link.encode(link.HEARTBEAT, 1)
    bad = bytearray(good)
    bad[-2] ^= 0xFF
    rig.uart.inject(bytes(bad) + link.encode(0x70, 1) + good[:-3])
    rig.run_for(200)  # the half frame expires after frame_gap_ms
    rig.send(link.SET_PATTERN, b"\x09")
    rig.step(0)
    frames = rig.exchange(link.GET_STATUS)
    status = next(f[2] for f in frames if f[0] == link.STATUS)
    truncated, corrupt, unknown, malformed = [
        (status[i] << 8) | status[i + 1] for i in range(20, 28, 2)
    ]
    assert (truncated, corrupt, unknown, malformed) == (1, 1, 1, 1)


def test_a_flood_without_delimiters_is_dropped_as_one_corrupt_frame():
    rig = Rig()
    rig.uart.inject(b"\x00" + b"\x55" * 5000)
    rig.run_for(300)
    rig.send(link.HEARTBEAT)
    rig.step(0)
    assert rig.sup.decoder.corrupt == 1
    assert [f[0] for f in rig.received()] == [link.ACK]
