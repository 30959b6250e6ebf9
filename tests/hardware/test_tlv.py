"""BER-TLV codec: golden vectors, multi-byte tags, long-form lengths, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.card import tlv
from hardware.errors import MalformedCardDataError

AID = bytes.fromhex("D3600000014B5450454C")


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, "00"),
        (0x7F, "7F"),
        (0x80, "8180"),
        (0xFF, "81FF"),
        (0x100, "820100"),
        (0xFFFF, "82FFFF"),
        (0x10000, "83010000"),
        (0x1000000, "8401000000"),
    ],
)
def test_length_golden_vectors(length: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert tlv.encode_length(length) == raw
    assert tlv.read_length(memoryview(raw), 0) == (length, len(raw))


@pytest.mark.parametrize(
    ("tag", "encoded"),
    [(0x84, "84"), (0x5F2E, "5F2E"), (0x7F60, "7F60"), (0x9F7F, "9F7F"), (0x5F8101, "5F8101")],
)
def test_tag_golden_vectors(tag: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert tlv.encode_tag(tag) == raw
    assert tlv.read_tag(memoryview(raw), 0) == (tag, len(raw))


@pytest.mark.parametrize("tag", [0, 0x1F, 0x5F80, 0x5F81, 0x0101, 0xFF, 0x5F818181])
def test_invalid_tags_are_not_built(tag: int) -> None:
    with pytest.raises(ValueError):
        tlv.encode_tag(tag)


def test_nested_golden_vector() -> None:
    fci = bytes.fromhex("6F1884" + "0A" + AID.hex() + "A50AC008" + "0102030405060708")
    top = tlv.parse_single(fci)
    assert top.tag == 0x6F and top.constructed
    children = top.children()
    assert [c.tag for c in children] == [0x84, 0xA5]
    assert bytes(children[0].value) == AID
    serial = children[1].children()[0]
    assert (serial.tag, bytes(serial.value)) == (0xC0, bytes(range(1, 9)))
    assert not serial.constructed
    built = tlv.build_constructed(
        0x6F,
        [tlv.build(0x84, AID), tlv.build_constructed(0xA5, [tlv.build(0xC0, bytes(range(1, 9)))])],
    )
    assert built == fci


def test_long_form_value_and_two_byte_tag() -> None:
    value = bytes(range(256)) * 2
    raw = tlv.build(0x5F2E, value)
    assert raw[:5] == bytes.fromhex("5F2E820200")
    obj = tlv.parse_single(raw)
    assert obj.tag == 0x5F2E and bytes(obj.value) == value


def test_non_minimal_length_is_accepted() -> None:
    assert bytes(tlv.parse_single(bytes.fromhex("8081020102")).value) == b"\x01\x02"


def test_values_are_views_not_copies() -> None:
    buf = bytearray(tlv.build(0x80, b"3304014508920003"))
    obj = tlv.parse_single(buf)
    buf[2:] = bytes(len(buf) - 2)
    assert bytes(obj.value) == bytes(16)


def test_parse_one_returns_the_next_offset() -> None:
    raw = tlv.build(0x80, b"ab") + tlv.build(0x81, b"c")
    first, pos = tlv.parse_one(raw)
    second, end = tlv.parse_one(raw, pos)
    assert (first.tag, second.tag, pos, end) == (0x80, 0x81, 4, 7)
    assert [o.tag for o in tlv.iter_tlv(raw)] == [0x80, 0x81]


def test_repr_hides_the_value() -> None:
    assert "3304" not in repr(tlv.parse_single(tlv.build(0x80, b"3304014508920003")))


@pytest.mark.parametrize(
    "raw",
    [
        "5F",  # truncated two-byte tag
        "5F2E",  # no length
        "1F8181",  # tag runs out mid-way
        "5F81818101",  # four-byte tag
        "5F8001",  # leading zero subsequent tag byte
        "00",  # padding
        "FF0100",  # padding
        "80",  # no length
        "8080",  # indefinite length
        "808501020304050607",  # five length bytes after 85
        "808201",  # truncated long-form length
        "8003AABB",  # value runs past the end
        "80820100AA",  # long value runs past the end
    ],
)
def test_malformed_tlv_raises_domain_error(raw: str) -> None:
    with pytest.raises(MalformedCardDataError):
        tlv.parse_all(bytes.fromhex(raw))


def test_parse_single_refuses_trailing_bytes_and_empty_input() -> None:
    with pytest.raises(MalformedCardDataError):
        tlv.parse_single(bytes.fromhex("800101" + "00"))
    with pytest.raises(MalformedCardDataError):
        tlv.parse_single(b"")
    assert tlv.parse_all(b"") == []


def test_index_unique_and_require() -> None:
    objects = tlv.parse_all(tlv.build(0x80, b"a") + tlv.build(0x81, b"b"))
    index = tlv.index_unique(objects)
    assert bytes(tlv.require(index, 0x81).value) == b"b"
    with pytest.raises(MalformedCardDataError):
        tlv.require(index, 0x82)
    with pytest.raises(MalformedCardDataError):
        tlv.index_unique(objects + objects)


tags = st.sampled_from([0x80, 0x84, 0xC0, 0x5F2E, 0x9F7F, 0x5F8101])


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=6))
def test_build_then_parse_round_trips(items: list[tuple[int, bytes]]) -> None:
    raw = b"".join(tlv.build(t, v) for t, v in items)
    assert [(o.tag, bytes(o.value)) for o in tlv.parse_all(raw)] == items
