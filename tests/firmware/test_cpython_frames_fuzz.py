"""Property tests of the firmware's link (CPython only: hypothesis). `make fuzz` runs the long
profile; each example feeds up to 40 frames, so the CI profile alone pushes thousands."""

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware import link
from firmware.auth import hmac_sha256
from tests.firmware.fakes import MemoryStore, Rig

pytestmark = pytest.mark.fuzz


@st.composite
def valid_frames(draw):
    mtype = draw(st.sampled_from(link.PI_TYPES + link.MCU_TYPES + (0x00, 0x7F, 0xFF)))
    seq = draw(st.integers(0, 255))
    payload = draw(st.binary(max_size=link.MAX_PAYLOAD))
    return link.encode(mtype, seq, payload)


@st.composite
def mutated_frames(draw):
    data = bytearray(draw(valid_frames()))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(("flip", "cut", "insert", "delete", "splice")))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            data = data[:i]
        elif action == "insert":
            data.insert(i, draw(st.integers(0, 255)))
        elif action == "delete":
            del data[i]
        else:
            data = data[:i] + draw(valid_frames())
    return bytes(data)


frames = st.one_of(valid_frames(), mutated_frames(), st.binary(max_size=120))


@given(st.lists(st.tuples(frames, st.integers(1, 64)), min_size=1, max_size=40))
def test_random_and_mutated_frames_never_stop_the_loop(chunks):
    rig = Rig(store=MemoryStore())
    for wire, chunk in chunks:
        for start in range(0, len(wire), chunk):
            rig.uart.inject(wire[start : start + chunk])
            rig.step(1)
    rig.run_for(200)
    rig.received()
    assert rig.sup.errors == 0
    seq = rig.send(link.HEARTBEAT)
    rig.step(0)
    assert (link.ACK, seq, bytes((link.HEARTBEAT,))) in rig.received()


@given(st.binary(max_size=80))
def test_decode_raises_only_frame_errors(encoded):
    try:
        link.decode(encoded.replace(b"\x00", b""), link.PI_TYPES)
    except link.FrameError as err:
        assert err.kind in (link.TRUNCATED, link.CORRUPT, link.UNKNOWN)


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=link.MAX_PAYLOAD))
def test_encode_decode_round_trip(mtype, seq, payload):
    decoder = link.Decoder(tuple(range(256)))
    assert decoder.feed(link.encode(mtype, seq, payload)) == [(mtype, seq, payload)]


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_matches_cpython(key, message):
    assert hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()
