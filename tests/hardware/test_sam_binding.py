"""The SAM's binding to its kiosk, in process: the host authentication before every card
authentication, the wrapped release of session keys, SET HOST KEY once, UNBIND by the host and
by the issuer, the state kept across power and restarts, and the golden vectors of the KDFs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardware.card import ktpel, sam_auth
from hardware.card.apdu import CommandApdu, exchange
from hardware.card.ktpel import KtpelProfile
from hardware.card.ktpel_crypto import SESSION_KEYS_SIZE
from hardware.card.sam_auth import MemoryHostKey, authenticate_host, select_sam
from hardware.errors import (
    SamHostKeyRejectedError,
    SamNotAuthorisedError,
    SamNotBoundError,
)
from simulators.card import DirectTransport, VirtualSam, card_for
from simulators.card.sam_binding import SamStateError, issuer_reset
from tests.hardware.sam_keys import HOST_KEY, bound_sam, profile

VECTORS = Path(__file__).resolve().parents[1] / "data" / "sam_binding.json"
OTHER_KEY = b"OTHER-KIOSK-KEY!"


def _sam_apdu(sam: DirectTransport, ins: int, data: bytes = b"", p1: int = 0) -> int:
    _, sw = exchange(sam, CommandApdu(0x80, ins, p1, 0, data, ne=256 if not data else None))
    return sw


# --- the state machine ------------------------------------------------------------------------


def test_bound_sam_refuses_card_work_without_the_host_authentication() -> None:
    with pytest.raises(SamNotAuthorisedError) as info:
        KtpelProfile().read(DirectTransport(card_for("ayu")), DirectTransport(bound_sam()))
    assert info.value.sw == 0x6982
    assert not isinstance(info.value, SamNotBoundError)


def test_unbound_sam_refuses_card_work_with_6a88() -> None:
    with pytest.raises(SamNotBoundError) as info:
        profile().read(DirectTransport(card_for("ayu")), DirectTransport(VirtualSam()))
    assert info.value.sw == 0x6A88
    with pytest.raises(SamNotBoundError):
        KtpelProfile().read(DirectTransport(card_for("ayu")), DirectTransport(VirtualSam()))


def test_another_kiosks_key_is_rejected() -> None:
    sam = DirectTransport(bound_sam())
    select_sam(sam)
    with pytest.raises(SamHostKeyRejectedError) as info:
        authenticate_host(sam, MemoryHostKey(OTHER_KEY))
    assert info.value.sw == 0x6300
    assert _sam_apdu(sam, ktpel.INS_SAM_INIT_AUTH, bytes(16)) == 0x6982  # and nothing opened


def test_one_authentication_releases_one_card_session() -> None:
    sam_chip, card_chip = bound_sam(), card_for("ayu")
    sam, card = DirectTransport(sam_chip), DirectTransport(card_chip)
    contents = profile().read(card, sam)
    contents.wipe()
    # the same SAM connection, no fresh authentication: the SAM refuses the next card session
    assert _sam_apdu(sam, ktpel.INS_SAM_INIT_AUTH, bytes(16)) == 0x6982
    assert _sam_apdu(sam, ktpel.INS_SAM_VERIFY_CARD, bytes(40)) == 0x6982


@pytest.mark.parametrize("forget", ["reset", "power_off", "select"])
def test_reset_power_and_select_forget_the_authentication(forget: str) -> None:
    chip = bound_sam()
    sam = DirectTransport(chip)
    select_sam(sam)
    authenticate_host(sam, MemoryHostKey(HOST_KEY)).wipe()
    assert chip.binding.authenticated
    if forget == "select":
        select_sam(sam)
    else:
        getattr(chip, forget)()
        chip.power_on()
        select_sam(sam)
    assert not chip.binding.authenticated
    assert _sam_apdu(sam, ktpel.INS_SAM_INIT_AUTH, bytes(16)) == 0x6982


def test_a_proof_cannot_be_replayed() -> None:
    chip = bound_sam()
    sam = DirectTransport(chip)
    select_sam(sam)
    authenticate_host(sam, MemoryHostKey(HOST_KEY)).wipe()
    recorded = sam.sent[-1]  # AUTHENTICATE HOST with RND.H || C.H
    select_sam(sam)
    sam_auth.get_challenge(sam)  # a fresh challenge: the old proof no longer fits
    _, sw = sam.send_and_receive(recorded)
    assert sw == 0x6300


def test_released_keys_are_wrapped_under_the_host_authentication() -> None:
    """A process that slips its VERIFY CARD in after the kiosk authenticated (a shared PC/SC
    connection) gets a block only the host key opens: never the card's session keys."""
    sam_chip, card_chip = bound_sam(), card_for("ayu")
    sam, card = DirectTransport(sam_chip), DirectTransport(card_chip)
    select_sam(sam)
    session = authenticate_host(sam, MemoryHostKey(HOST_KEY))
    fci, _ = exchange(card, CommandApdu(0, 0xA4, 4, 0, ktpel.KTPEL_AID, ne=256))
    serial = ktpel.parse_fci(fci)
    rnd_ic, _ = exchange(card, CommandApdu(0, 0x84, 0, 0, ne=8))
    host_crypt, _ = exchange(sam, CommandApdu(0x80, 0x8A, 0, 0, serial + rnd_ic, ne=256))
    card_crypt, _ = exchange(card, CommandApdu(0, 0x82, 0, 0, host_crypt, ne=256))
    released, sw = exchange(sam, CommandApdu(0x80, 0x8C, 0, 0, card_crypt, ne=256))
    assert sw == 0x9000
    assert len(released) == sam_auth.WRAPPED_KEYS_SIZE
    keys = session.unwrap(released)
    assert bytes(keys.to_bytes()) not in released  # nothing in the clear
    assert len(keys.to_bytes()) == SESSION_KEYS_SIZE
    tampered = bytes([released[0] ^ 1]) + released[1:]
    with pytest.raises(SamNotAuthorisedError):
        session.unwrap(tampered)


# --- SET HOST KEY, UNBIND, issuer reset -------------------------------------------------------


def test_set_host_key_once_while_unbound(tmp_path: Path) -> None:
    chip = VirtualSam(state_file=tmp_path / "sam.json")
    sam = DirectTransport(chip)
    select_sam(sam)
    sam_auth.set_host_key(sam, HOST_KEY)
    assert chip.binding.bound
    with pytest.raises(SamHostKeyRejectedError) as info:
        sam_auth.set_host_key(sam, OTHER_KEY)
    assert info.value.sw == 0x6986
    contents = profile().read(DirectTransport(card_for("ayu")), sam)
    contents.wipe()


def test_set_host_key_checks_the_kcv_and_the_activation() -> None:
    sam = DirectTransport(VirtualSam())
    select_sam(sam)
    wrong = HOST_KEY + bytes(3)
    assert _sam_apdu(sam, sam_auth.INS_SET_HOST_KEY, wrong) == 0x6A80
    assert _sam_apdu(sam, sam_auth.INS_SET_HOST_KEY, HOST_KEY) == 0x6700
    inactive = DirectTransport(VirtualSam(activated=False))
    _, sw = exchange(inactive, CommandApdu(0, 0xA4, 4, 0x0C, ktpel.SAM_AID))
    assert sw == 0x6283
    assert _sam_apdu(inactive, sam_auth.INS_SET_HOST_KEY, HOST_KEY + b"\0\0\0") == 0x6985


def test_the_binding_survives_a_restart_of_the_simulator(tmp_path: Path) -> None:
    state = tmp_path / "sam.json"
    first = DirectTransport(VirtualSam(state_file=state))
    select_sam(first)
    sam_auth.set_host_key(first, HOST_KEY)
    assert state.stat().st_mode & 0o777 == 0o600
    again = VirtualSam(state_file=state)  # a new process: the same SAM
    assert again.binding.bound
    profile().read(DirectTransport(card_for("ayu")), DirectTransport(again)).wipe()


def test_the_host_releases_the_sam(tmp_path: Path) -> None:
    state = tmp_path / "sam.json"
    sam = DirectTransport(VirtualSam(state_file=state))
    select_sam(sam)
    sam_auth.set_host_key(sam, HOST_KEY)
    select_sam(sam)
    with pytest.raises(SamHostKeyRejectedError):
        sam_auth.unbind(sam, MemoryHostKey(OTHER_KEY))  # only the bound kiosk may
    select_sam(sam)
    sam_auth.unbind(sam, MemoryHostKey(HOST_KEY))
    assert not VirtualSam(state_file=state).binding.bound
    assert _sam_apdu(sam, sam_auth.INS_UNBIND, bytes(16)) == 0x6982  # nothing left to release


def test_only_the_issuer_resets_a_sam_bound_elsewhere(tmp_path: Path) -> None:
    state = tmp_path / "sam.json"
    chip = VirtualSam(state_file=state, host_key=OTHER_KEY)
    sam = DirectTransport(chip)
    with pytest.raises(SamNotAuthorisedError) as info:
        issuer_reset(sam, issuer_key=b"NOT-THE-ISSUER!!")
    assert info.value.sw == 0x6300
    assert chip.binding.bound
    issuer_reset(sam)
    assert not chip.binding.bound
    select_sam(sam)
    sam_auth.set_host_key(sam, HOST_KEY)
    profile().read(DirectTransport(card_for("ayu")), sam).wipe()


def test_a_corrupt_state_file_is_named(tmp_path: Path) -> None:
    state = tmp_path / "sam.json"
    state.write_text("{not json")
    with pytest.raises(SamStateError, match=r"sam\.json"):
        VirtualSam(state_file=state)


# --- golden vectors ---------------------------------------------------------------------------


def test_golden_vectors() -> None:
    """Host and SAM compute the same proofs and wrapping keys (tests/data/sam_binding.json)."""
    vectors = json.loads(VECTORS.read_text())
    for v in vectors:
        key = MemoryHostKey(bytes.fromhex(v["host_key"]))
        context = bytes.fromhex(v["rnd_s"]) + bytes.fromhex(v["rnd_h"])
        assert sam_auth.key_check_value(bytes.fromhex(v["host_key"])).hex() == v["kcv"]
        for label, field in (
            (sam_auth.LABEL_HOST, "c_h"),
            (sam_auth.LABEL_SAM, "c_s"),
            (sam_auth.LABEL_WRAP_ENC, "k_w_enc"),
            (sam_auth.LABEL_WRAP_MAC, "k_w_mac"),
        ):
            assert sam_auth.host_kdf(key, label, context).hex() == v[field]
        wrapped = sam_auth.wrap_session_keys(
            bytes.fromhex(v["k_w_enc"]), bytes.fromhex(v["k_w_mac"]), bytes.fromhex(v["keys"])
        )
        assert wrapped.hex() == v["wrapped"]
