"""What the SAM says about itself: its serial and whether Dukcapil activated it (GET DATA).

Pure code over an `ApduTransport` (docs/ktpel-card-protocol.md, "SAM information"): SELECT the
SAM application, then `80 CA 00 C0 00`. The answer is `E0 { C0 serial, C1 state }`; it carries
no key and no personal data, and a SAM answers it before any authentication and also when it is
not activated (SELECT then answers 6283), so that a technician can read what is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardware.card import tlv
from hardware.card.apdu import SW, ApduTransport, CommandApdu, describe_sw
from hardware.errors import MalformedCardDataError, SamMissingError

RID = bytes.fromhex("D360000001")
SAM_AID = RID + b"KTPSAM"
CLA_PROPRIETARY = 0x80
INS_GET_DATA = 0xCA
P1P2_SAM_INFO = 0x00C0
TAG_SAM_INFO = 0xE0
TAG_SAM_SERIAL = 0xC0
TAG_SAM_STATE = 0xC1
STATE_NOT_ACTIVATED = 0x00
STATE_ACTIVATED = 0x01
MAX_SERIAL_SIZE = 32
_PRINTABLE = re.compile(rb"^[A-Za-z0-9._:-]{1,32}\Z")


@dataclass(frozen=True, slots=True)
class SamInfo:
    """The SAM's serial (text: printable as sent, otherwise upper-case hex) and state."""

    serial: str
    activated: bool


def serial_text(raw: bytes) -> str:
    """A serial as an identifier: printable ASCII kept, anything else upper-case hex."""
    return raw.decode("ascii") if _PRINTABLE.match(raw) else raw.hex().upper()


def sam_info_command() -> bytes:
    """The GET DATA command APDU of the SAM information object."""
    return CommandApdu(
        CLA_PROPRIETARY, INS_GET_DATA, P1P2_SAM_INFO >> 8, P1P2_SAM_INFO & 0xFF, ne=256
    ).to_bytes()


def parse_sam_info(data: bytes) -> SamInfo:
    """Decode `E0 { C0 serial, C1 state }` (MalformedCardDataError for anything else)."""
    outer = tlv.parse_single(data)
    if outer.tag != TAG_SAM_INFO:
        raise MalformedCardDataError("SAM information is not an E0 template")
    items = tlv.index_unique(outer.children())
    serial = bytes(tlv.require(items, TAG_SAM_SERIAL).value)
    state = bytes(tlv.require(items, TAG_SAM_STATE).value)
    if not 1 <= len(serial) <= MAX_SERIAL_SIZE:
        raise MalformedCardDataError("SAM serial has the wrong length")
    if len(state) != 1 or state[0] not in (STATE_NOT_ACTIVATED, STATE_ACTIVATED):
        raise MalformedCardDataError("SAM state is not 00 or 01")
    return SamInfo(serial_text(serial), state[0] == STATE_ACTIVATED)


def read_sam_info(sam: ApduTransport) -> SamInfo:
    """SELECT the SAM application and read its serial and activation state."""
    select = CommandApdu(0x00, 0xA4, 0x04, 0x0C, SAM_AID).to_bytes()
    _, select_sw = sam.send_and_receive(select)
    if select_sw == SW.FILE_NOT_FOUND:
        raise SamMissingError("the SAM slot holds a card without the SAM application", select_sw)
    if select_sw not in (SW.SUCCESS, SW.FILE_DEACTIVATED):
        raise SamMissingError(f"the SAM refused SELECT: {describe_sw(select_sw)}", select_sw)
    data, sw = sam.send_and_receive(sam_info_command())
    if sw != SW.SUCCESS:
        raise MalformedCardDataError(f"the SAM does not answer GET DATA: {describe_sw(sw)}", sw)
    info = parse_sam_info(data)
    if select_sw == SW.FILE_DEACTIVATED and info.activated:  # SELECT's word is the stronger
        return SamInfo(info.serial, False)
    return info
