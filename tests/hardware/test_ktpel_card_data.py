"""The KTP-el profile's parsers of card data: identity, template, FCI and FCP files, the UTF-8
check; on files the virtual card builds and on damaged ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.card import ktpel, tlv
from hardware.card.apdu import CommandApdu
from hardware.card.reader import Finger, IdentityField
from hardware.errors import MalformedCardDataError
from simulators.card import build_identity_file, build_template_file, card_for, identity_values
from simulators.personas import persona


def _identity(**changes: bytes) -> dict[IdentityField, bytes]:
    values = identity_values(persona("ayu"))
    for name, value in changes.items():
        values[IdentityField(name)] = value
    return values


def test_identity_ignores_unknown_tags() -> None:
    fields = [tlv.build(ktpel.IDENTITY_TAGS[f], v) for f, v in _identity().items()]
    raw = tlv.build_constructed(ktpel.TAG_IDENTITY, [*fields, tlv.build(0x9E, b"future")])
    assert len(ktpel.parse_identity(raw)) == len(IdentityField)


@pytest.mark.parametrize(
    "raw",
    [
        build_identity_file(_identity(full_name=b"\xff\xfe")),  # not UTF-8
        build_identity_file(
            {f: v for f, v in _identity().items() if f is not IdentityField.RW}
        ),  # missing field
        tlv.build(0x7F71, b""),  # wrong template
        tlv.build_constructed(  # duplicate NIK
            ktpel.TAG_IDENTITY,
            [
                tlv.build(0x80, b"1"),
                *(tlv.build(ktpel.IDENTITY_TAGS[f], b"x") for f in IdentityField),
            ],
        ),
    ],
)
def test_bad_identity_files(raw: bytes) -> None:
    with pytest.raises(MalformedCardDataError):
        ktpel.parse_identity(raw)


def test_template_parser() -> None:
    template = persona("ayu").template(Finger.LEFT_INDEX)
    raw = build_template_file(template, Finger.LEFT_INDEX)
    assert raw[:5] == bytes.fromhex("7F60820208")
    assert ktpel.parse_template(raw, Finger.LEFT_INDEX) == template
    with pytest.raises(MalformedCardDataError):
        ktpel.parse_template(raw, Finger.RIGHT_INDEX)  # another finger's file
    with pytest.raises(MalformedCardDataError):
        ktpel.parse_template(
            build_template_file(template[:500], Finger.LEFT_INDEX), Finger.LEFT_INDEX
        )


def test_fci_and_fcp_parsers() -> None:
    card = card_for("ayu")
    fci = card.process(CommandApdu(0, 0xA4, 4, 0, ktpel.KTPEL_AID, ne=256).to_bytes())[:-2]
    assert ktpel.parse_fci(fci) == card.serial
    fcp = card.process(CommandApdu(0, 0xA4, 2, 4, b"\x01\x02", ne=256).to_bytes())[:-2]
    assert fcp.hex().upper() == "620B8002020D82010183020102"
    assert ktpel.parse_fcp_size(fcp) == 0x20D
    for bad in (b"", tlv.build(0x62, tlv.build(0x80, b"\x00\x00")), tlv.build(0x63, b"")):
        with pytest.raises(MalformedCardDataError):
            ktpel.parse_fcp_size(bad)
    other_aid = tlv.build_constructed(0x6F, [tlv.build(0x84, b"\xa0\x00"), tlv.build(0xA5, b"")])
    with pytest.raises(MalformedCardDataError):
        ktpel.parse_fci(other_aid)


@given(st.binary(max_size=64))
def test_utf8_check_agrees_with_python(data: bytes) -> None:
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert ktpel.is_utf8(data) == valid


@pytest.mark.parametrize(
    "raw", ["C0AF", "E08080", "EDA080", "F4908080", "F5808080", "E282", "80", "C2"]
)
def test_utf8_check_rejects_overlongs_surrogates_and_truncation(raw: str) -> None:
    assert not ktpel.is_utf8(bytes.fromhex(raw))
