"""The KTP-el profile against the virtual card and SAM, in process (no pcscd): whole reads, SAM
states, authentication, damaged and vanishing cards, and card faults in their text form."""

from __future__ import annotations

import pytest

from hardware.card import ktpel
from hardware.card.apdu import CommandApdu
from hardware.card.ktpel import CardProfile, KtpelProfile
from hardware.card.reader import CardContents, Finger, IdentityField
from hardware.errors import (
    CardError,
    CardNotAuthenticError,
    CardRemovedError,
    MalformedCardDataError,
    SamMissingError,
    SamNotAuthorisedError,
)
from simulators.card import (
    CardFault,
    DirectTransport,
    FaultKind,
    VirtualKtpelCard,
    VirtualSam,
    card_for,
    identity_values,
)
from simulators.personas import PERSONAS, persona
from simulators.vpcd import VirtualCard
from tests.hardware.sam_keys import bound_sam, profile


def read(card: VirtualCard, sam: VirtualCard | None = None) -> CardContents:
    """Read `card` with `sam` (an activated SAM by default) through in-process transports."""
    return profile().read(DirectTransport(card), DirectTransport(sam or bound_sam()))


# --- whole reads ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(PERSONAS))
def test_every_persona_reads_back_exactly(key: str) -> None:
    p = persona(key)
    contents = read(card_for(key))
    assert contents.identity[IdentityField.NIK] == p.nik.encode()
    assert contents.identity[IdentityField.KK_NUMBER] == p.kk_number.encode()
    assert contents.identity[IdentityField.FULL_NAME] == p.full_name.encode()
    assert contents.identity[IdentityField.BIRTH_DATE] == p.birth_date.strftime("%d-%m-%Y").encode()
    assert contents.identity[IdentityField.RT] == p.rt.encode()
    assert {f: bytes(v) for f, v in contents.identity.items()} == identity_values(p)
    for finger in Finger:
        assert contents.templates[finger] == p.template(finger)
        assert isinstance(contents.templates[finger], bytearray)
    assert all(isinstance(v, bytearray) for v in contents.identity.values())
    contents.wipe()
    assert not contents.identity and not contents.templates


def test_profile_satisfies_the_interface() -> None:
    profile_: CardProfile = profile()
    assert profile_.name == "ktpel-sim-v1"


def test_read_apdu_sequence() -> None:
    card, sam = DirectTransport(card_for("ayu")), DirectTransport(bound_sam())
    profile().read(card, sam)
    card_ins = [(a[0], a[1]) for a in card.sent]
    assert card_ins[:4] == [(0x00, 0xA4), (0x00, 0x84), (0x00, 0x82), (0x00, 0xA4)]
    assert card_ins.count((0x0C, 0xB0)) == 8  # identity 2 chunks, templates 3 chunks each
    assert len(card.sent) == 14
    sam_ins = [(a[0], a[1]) for a in sam.sent]
    assert sam_ins == [(0x00, 0xA4), (0x80, 0x84), (0x80, 0x82), (0x80, 0x8A), (0x80, 0x8C)]


def test_small_chunks_read_the_same() -> None:
    contents = profile(chunk_size=16).read(
        DirectTransport(card_for("bagas")), DirectTransport(bound_sam())
    )
    assert contents.identity[IdentityField.NIK] == persona("bagas").nik.encode()
    with pytest.raises(ValueError):
        KtpelProfile(chunk_size=0)


def test_repeated_reads_on_one_card() -> None:
    card, sam = card_for("ayu"), bound_sam()
    for _ in range(3):
        read(card, sam).wipe()


# --- SAM states ---------------------------------------------------------------------------------


def test_sam_not_activated() -> None:
    with pytest.raises(SamNotAuthorisedError) as info:
        read(card_for("ayu"), bound_sam(activated=False))
    assert info.value.sw == 0x6283


class DeactivateAfterSelect:
    """A SAM transport that has Dukcapil deactivate the SAM right after it is selected."""

    def __init__(self, sam: VirtualSam) -> None:
        self.inner = DirectTransport(sam)
        self.sam = sam

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        answer = self.inner.send_and_receive(apdu)
        self.sam.activated = False
        return answer


def test_sam_deactivated_during_the_session() -> None:
    with pytest.raises(SamNotAuthorisedError) as info:
        profile().read(DirectTransport(card_for("ayu")), DeactivateAfterSelect(bound_sam()))
    assert info.value.sw == 0x6985


def test_card_in_the_sam_slot_is_no_sam() -> None:
    with pytest.raises(SamMissingError) as info:
        read(card_for("ayu"), card_for("bagas"))
    assert info.value.sw == 0x6A82


def test_sam_in_the_card_slot_is_not_a_ktpel_card() -> None:
    with pytest.raises(MalformedCardDataError) as info:
        read(bound_sam(), bound_sam())
    assert info.value.sw == 0x6A82


# --- authentication -----------------------------------------------------------------------------


def test_cloned_card_fails_at_the_sam() -> None:
    card, sam = card_for("ayu", CardFault.CLONED), bound_sam()
    with pytest.raises(CardNotAuthenticError) as info:
        profile().read(DirectTransport(card), DirectTransport(sam))
    assert info.value.sw == 0x6300
    assert sam.apdu_count == 5  # it got as far as VERIFY CARD (after 2 host-binding APDUs)


def test_card_of_another_issuer_rejects_the_host() -> None:
    card = VirtualKtpelCard(persona("ayu"), master_key=bytes(16))
    with pytest.raises(CardNotAuthenticError) as info:
        read(card)
    assert info.value.sw == 0x6300
    assert "mutual authentication" in str(info.value)


def _select(card: VirtualKtpelCard) -> None:
    cmd = CommandApdu(0, 0xA4, 4, 0x0C, ktpel.KTPEL_AID)
    assert card.process(cmd.to_bytes()) == b"\x90\x00"


def test_read_binary_refused_before_authentication() -> None:
    card = card_for("ayu")
    _select(card)
    select_ef = CommandApdu(0, 0xA4, 2, 0x0C, b"\x01\x01")
    assert card.process(select_ef.to_bytes()) == b"\x90\x00"
    assert card.process(CommandApdu(0, 0xB0, 0, 0, ne=256).to_bytes()) == b"\x69\x82"
    fake_sm = CommandApdu(0x0C, 0xB0, 0, 0, bytes.fromhex("970100") + bytes(10), ne=256)
    assert card.process(fake_sm.to_bytes()) == b"\x69\x82"


def test_mutual_authenticate_without_challenge_is_refused() -> None:
    card = card_for("ayu")
    _select(card)
    cmd = CommandApdu(0, 0x82, 0, 0, bytes(40), ne=256)
    assert card.process(cmd.to_bytes())[-2:] == b"\x69\x85"


def test_card_answers_unknown_commands_and_garbage() -> None:
    card = card_for("ayu")
    assert card.process(bytes.fromhex("00CA0000"))[-2:] == b"\x6d\x00"
    assert card.process(bytes.fromhex("A0A40000"))[-2:] == b"\x6e\x00"
    assert card.process(bytes.fromhex("00A4040002AA"))[-2:] == b"\x67\x00"


# --- damaged cards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        CardFault.TRUNCATED_TLV,
        CardFault.INCONSISTENT_TLV,
        CardFault.WRONG_LENGTH,
        CardFault.wrong_length(+16),
        CardFault.wrong_length(-300),
    ],
    ids=str,
)
def test_damaged_card_gives_malformed_data(fault: CardFault) -> None:
    with pytest.raises(MalformedCardDataError):
        read(card_for("ayu", fault))


def test_short_file_reports_the_status_word() -> None:
    with pytest.raises(MalformedCardDataError) as info:
        read(card_for("ayu", CardFault.WRONG_LENGTH))
    assert info.value.sw == 0x6282


@pytest.mark.parametrize("n", range(1, 15))
def test_card_vanishing_at_any_apdu_gives_card_removed(n: int) -> None:
    with pytest.raises(CardRemovedError):
        read(card_for("ayu", CardFault.vanish_at(n)))


def test_slow_card_still_reads() -> None:
    contents = read(card_for("ayu", CardFault.slow(0.001)))
    assert contents.identity[IdentityField.NIK] == persona("ayu").nik.encode()


def test_error_messages_hold_no_personal_data() -> None:
    p = persona("ayu")
    for fault in (CardFault.TRUNCATED_TLV, CardFault.INCONSISTENT_TLV, CardFault.CLONED):
        with pytest.raises(CardError) as info:
            read(card_for("ayu", fault))
        assert p.nik not in str(info.value) and p.full_name not in str(info.value)


# --- faults as text (the control surface uses this) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("cloned", CardFault.CLONED),
        ("truncated_tlv", CardFault.TRUNCATED_TLV),
        ("inconsistent_tlv", CardFault.INCONSISTENT_TLV),
        ("wrong_length", CardFault.WRONG_LENGTH),
        ("wrong_length:16", CardFault.wrong_length(16)),
        ("slow:0.25", CardFault.slow(0.25)),
        ("VANISH_AT:3", CardFault.vanish_at(3)),
    ],
)
def test_fault_text_form(text: str, fault: CardFault) -> None:
    assert CardFault.parse(text) == fault
    assert CardFault.parse(str(fault)) == fault


@pytest.mark.parametrize("text", ["", "melted", "slow", "slow:x", "vanish_at:0", "cloned:1"])
def test_bad_fault_text(text: str) -> None:
    with pytest.raises(ValueError):
        CardFault.parse(text)


def test_card_for_takes_text_faults() -> None:
    card = card_for("ayu", "vanish_at:2")
    assert card.fault is not None and card.fault.kind is FaultKind.VANISH_AT
    assert "AYU" not in repr(card)
