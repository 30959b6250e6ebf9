"""GET_ID: the MCU reports its board's unique id (what the technician's tool binds)."""

from firmware import link
from firmware import messages as msg
from tests.firmware.fakes import Rig

BOARD_ID = b"\xe6\x61\x38\x52\x83\x4b\x2a\x21"


def test_get_id_answers_version_and_board_id():
    rig = Rig(board_id=BOARD_ID)
    frames = rig.exchange(link.GET_ID)
    assert len(frames) == 1
    mtype, seq, payload = frames[0]
    assert mtype == link.IDENT
    assert seq == rig.seq
    assert payload == bytes((msg.PROTOCOL_VERSION,)) + BOARD_ID


def test_get_id_with_a_payload_is_malformed():
    rig = Rig(board_id=BOARD_ID)
    frames = rig.exchange(link.GET_ID, b"\x01")
    assert frames[0][0] == link.NAK
    assert frames[0][2] == bytes((link.GET_ID, msg.MALFORMED))


def test_a_board_without_an_id_says_so():
    for board_id in (None, b"", bytes(17)):
        rig = Rig(board_id=board_id)
        frames = rig.exchange(link.GET_ID)
        assert frames[0][0] == link.NAK
        assert frames[0][2] == bytes((link.GET_ID, msg.NO_ID))


def test_golden_ident_payload():
    assert msg.ident_payload(BOARD_ID) == bytes.fromhex("01e6613852834b2a21")
