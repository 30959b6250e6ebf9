"""Property tests: nothing the MCU could send makes the Pi's parsers raise anything but
MalformedFrameError, and the stream decoder never raises."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.supervisor.errors import MalformedFrameError
from hardware.supervisor.frame import (
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    MsgType,
    decode_frame,
    encode_frame,
)
from hardware.supervisor.messages import parse_ack, parse_nak, parse_status, parse_tamper

pytestmark = pytest.mark.fuzz

PARSERS = [parse_status, parse_tamper, parse_ack, parse_nak]


@given(st.binary(max_size=80))
def test_decode_frame_raises_only_the_domain_error(encoded: bytes) -> None:
    with contextlib.suppress(MalformedFrameError):
        decode_frame(encoded)


@given(st.sampled_from(PARSERS), st.binary(max_size=64))
def test_payload_parsers_raise_only_the_domain_error(parser: object, payload: bytes) -> None:
    assert callable(parser)
    with contextlib.suppress(MalformedFrameError):
        parser(payload)


@given(st.lists(st.binary(max_size=70), max_size=30))
def test_stream_decoder_never_raises_and_keeps_count(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    frames = [f for chunk in chunks for f in decoder.feed(chunk)]
    decoder.expire()
    assert decoder.frames == len(frames)
    good = encode_frame(MsgType.ACK, 1, b"\x02")
    assert decoder.feed(good) == [Frame(MsgType.ACK, 1, b"\x02")]


@given(
    st.sampled_from(sorted(MsgType)),
    st.integers(0, 255),
    st.binary(max_size=MAX_PAYLOAD),
)
def test_encode_decode_round_trip(mtype: MsgType, seq: int, payload: bytes) -> None:
    decoder = FrameDecoder(frozenset(MsgType))
    assert decoder.feed(encode_frame(mtype, seq, payload)) == [Frame(mtype, seq, payload)]
