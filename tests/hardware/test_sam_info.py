"""The SAM's GET DATA: serial and activation state, before any authentication."""

from __future__ import annotations

import pytest

from hardware.card import sam_info
from hardware.card.sam_info import SamInfo, parse_sam_info, read_sam_info
from hardware.errors import MalformedCardDataError, SamMissingError
from simulators.card.ktpel_card import card_for
from simulators.card.sam import VirtualSam
from simulators.card.transport import DirectTransport


def test_golden_command_and_answer() -> None:
    assert sam_info.sam_info_command() == bytes.fromhex("80CA00C000")
    golden = bytes.fromhex("E011C00C53414D2D53494D2D30303031C10101")
    assert parse_sam_info(golden) == SamInfo("SAM-SIM-0001", True)


def test_activated_sam_reports_serial() -> None:
    sam = VirtualSam(serial=b"SAM-X-42")
    assert read_sam_info(DirectTransport(sam)) == SamInfo("SAM-X-42", True)


def test_not_activated_sam_still_identifies_itself() -> None:
    sam = VirtualSam(activated=False)
    assert read_sam_info(DirectTransport(sam)) == SamInfo("SAM-SIM-0001", False)


def test_binary_serial_is_hex() -> None:
    sam = VirtualSam(serial=b"\x01\x02\xfe\xff")
    assert read_sam_info(DirectTransport(sam)).serial == "0102FEFF"


def test_get_data_needs_select_and_known_object() -> None:
    sam = VirtualSam()
    assert sam.process(sam_info.sam_info_command())[-2:] == b"\x69\x85"
    t = DirectTransport(sam)
    read_sam_info(t)
    _, sw = t.send_and_receive(bytes.fromhex("80CA00C100"))
    assert sw == 0x6A88


def test_another_card_in_the_sam_slot() -> None:
    with pytest.raises(SamMissingError):
        read_sam_info(DirectTransport(card_for("ayu")))


@pytest.mark.parametrize(
    "data",
    ["E003C00100", "E006C00100C10102", "E003C10101", "C00100", "E006C000C10101", ""],
)
def test_malformed_answers(data: str) -> None:
    with pytest.raises(MalformedCardDataError):
        parse_sam_info(bytes.fromhex(data))
