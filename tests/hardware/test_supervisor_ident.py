"""The IDENT payload of the supervisor MCU, as the Pi reads it (the firmware's side:
tests/firmware/test_ident.py)."""

from __future__ import annotations

import pytest

from hardware.supervisor.errors import MalformedFrameError, NakReason
from hardware.supervisor.frame import MsgType
from hardware.supervisor.messages import McuIdentity, parse_ident


def test_golden_ident() -> None:
    payload = bytes.fromhex("01e6613852834b2a21")  # firmware.messages.ident_payload
    assert parse_ident(payload) == McuIdentity(1, "E6613852834B2A21")


@pytest.mark.parametrize("payload", ["", "01", "01" + "00" * 17])
def test_malformed_ident(payload: str) -> None:
    with pytest.raises(MalformedFrameError):
        parse_ident(bytes.fromhex(payload))


def test_codes() -> None:
    assert (MsgType.GET_ID, MsgType.IDENT, NakReason.NO_ID.value) == (0x09, 0x85, 7)
