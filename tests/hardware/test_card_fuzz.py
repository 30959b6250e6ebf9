"""Property-based fuzzing of every parser of card data: only CardError subclasses may come out.

Example counts come from the hypothesis profile (tests/conftest.py): modest in CI, 100,000 under
`make fuzz`.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.card import ktpel, tlv
from hardware.card.apdu import CommandApdu, ResponseApdu, exchange
from hardware.card.ktpel_crypto import SecureChannel, SessionKeys
from hardware.card.reader import Finger, IdentityField
from hardware.errors import CardError, MalformedCardDataError
from simulators.card import (
    DirectTransport,
    build_identity_file,
    build_template_file,
    card_for,
    identity_values,
)
from simulators.personas import persona
from tests.hardware.sam_keys import bound_sam, profile

pytestmark = pytest.mark.fuzz

status_words = st.one_of(
    st.sampled_from([0x9000, 0x6282, 0x6300, 0x6982, 0x6985, 0x6A82, 0x6100, 0x6C08, 0x61FF]),
    st.integers(0, 0xFFFF),
)

# TLV-shaped noise finds more paths than flat random bytes.
tlv_like = st.recursive(
    st.builds(
        lambda tag, value: tlv.build(tag, value),
        st.sampled_from([0x80, 0x83, 0x84, 0x87, 0x8E, 0x99, 0xC0, 0x5F2E, 0x9F7F]),
        st.binary(max_size=40),
    ),
    lambda inner: st.builds(
        lambda tag, kids: tlv.build_constructed(tag, kids),
        st.sampled_from([0x62, 0x6F, 0xA5, 0x7F60, 0x7F70]),
        st.lists(inner, max_size=4),
    ),
    max_leaves=8,
)


def mutate(data: bytes, source: st.DataObject) -> bytes:
    """Flip, cut, insert or overwrite bytes of `data`."""
    draw = source.draw
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "cut":
            del out[pos : pos + draw(st.integers(1, 8))]
        elif op == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif out and op == "flip":
            out[pos] ^= draw(st.integers(1, 255))
        elif out:
            out[pos] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0x85, 0xFF]))
    return bytes(out)


@given(st.one_of(st.binary(max_size=300), tlv_like))
def test_response_apdu_parser(raw: bytes) -> None:
    with contextlib.suppress(MalformedCardDataError):
        ResponseApdu.parse(raw)


@given(st.binary(max_size=300))
def test_command_apdu_parser(raw: bytes) -> None:
    try:
        parsed = CommandApdu.parse(raw)
    except MalformedCardDataError:
        return
    assert CommandApdu.parse(parsed.to_bytes()) == parsed


def _walk(data: bytes | memoryview, depth: int = 0) -> None:
    for obj in tlv.parse_all(data):
        if obj.constructed and depth < 8:
            _walk(obj.value, depth + 1)


@given(st.one_of(st.binary(max_size=300), tlv_like, tlv_like.flatmap(lambda b: st.just(b[:-1]))))
def test_tlv_parser(raw: bytes) -> None:
    with contextlib.suppress(MalformedCardDataError):
        _walk(raw)


@given(st.one_of(st.binary(max_size=200), tlv_like))
def test_fci_fcp_and_template_parsers(raw: bytes) -> None:
    for parse in (
        ktpel.parse_fci,
        ktpel.parse_fcp_size,
        lambda b: ktpel.parse_template(b, Finger.RIGHT_INDEX),
        ktpel.parse_identity,
    ):
        with contextlib.suppress(MalformedCardDataError):
            parse(raw)


IDENTITY = build_identity_file(identity_values(persona("ayu")))
TEMPLATE = build_template_file(persona("ayu").template(Finger.LEFT_INDEX), Finger.LEFT_INDEX)


@given(st.data())
def test_mutated_identity_and_template_files(data: st.DataObject) -> None:
    raw = mutate(IDENTITY, data)
    try:
        fields = ktpel.parse_identity(raw)
    except MalformedCardDataError:
        pass
    else:
        assert set(fields) == set(IdentityField)
    raw = mutate(TEMPLATE, data)
    with contextlib.suppress(MalformedCardDataError):
        assert len(ktpel.parse_template(raw, Finger.LEFT_INDEX)) == ktpel.TEMPLATE_SIZE


def _channels() -> tuple[SecureChannel, SecureChannel]:
    def keys() -> SessionKeys:
        return SessionKeys.derive(b"\x11" * 16, b"\x22" * 16, b"\x33" * 8, b"\x44" * 8)

    return SecureChannel(keys()), SecureChannel(keys())


@given(st.one_of(st.binary(max_size=300), tlv_like), status_words)
def test_protected_response_parser_on_noise(raw: bytes, sw: int) -> None:
    host, _ = _channels()
    with contextlib.suppress(MalformedCardDataError):
        host.unprotect_response(raw, sw)


@given(st.binary(max_size=223), st.data())
def test_protected_response_parser_on_mutated_answers(plain: bytes, data: st.DataObject) -> None:
    host, card = _channels()
    card.unprotect_command(host.protect_command(0xB0, 0, 0, max(len(plain), 1)))
    genuine = card.protect_response(plain, 0x9000)
    forged = mutate(genuine, data)
    if forged == genuine:
        return
    with pytest.raises(MalformedCardDataError):
        host.unprotect_response(forged, 0x9000)


@given(st.one_of(st.binary(max_size=60), tlv_like))
def test_protected_command_parser_on_noise(raw: bytes) -> None:
    _, card = _channels()
    with contextlib.suppress(MalformedCardDataError):
        card.unprotect_command(CommandApdu(0x0C, 0xB0, 0, 0, raw, ne=256))


class TamperedCard:
    """A transport to a genuine virtual card whose answers are replaced by fuzzer input."""

    def __init__(self, source: st.DataObject) -> None:
        self.inner = DirectTransport(card_for("ayu"))
        self.source = source
        self.draw = source.draw

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self.inner.send_and_receive(apdu)
        choice = self.draw(st.sampled_from(["keep", "keep", "keep", "mutate", "noise", "sw"]))
        if choice == "mutate":
            data = mutate(data, self.source)
        elif choice == "noise":
            data = self.draw(st.one_of(st.binary(max_size=260), tlv_like))
        elif choice == "sw":
            sw = self.draw(status_words)
        return data, sw


@given(st.data())
def test_profile_on_a_tampered_card_raises_only_card_errors(data: st.DataObject) -> None:
    try:
        contents = profile().read(TamperedCard(data), DirectTransport(bound_sam()))
    except CardError:
        return
    contents.wipe()


@given(st.lists(st.tuples(st.binary(max_size=40), status_words), max_size=300))
def test_exchange_on_scripted_answers(answers: list[tuple[bytes, int]]) -> None:
    class Scripted:
        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            return answers.pop(0) if answers else (b"", 0x9000)

    with contextlib.suppress(MalformedCardDataError):
        exchange(Scripted(), CommandApdu(0x00, 0xB0, 0, 0, ne=256))
