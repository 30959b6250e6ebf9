"""The KTP-el profile against the virtual card and SAM, in process (no pcscd): reads, faults,
authentication, secure messaging, parsers of card data, and the crypto primitives' vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.card import ktpel, tlv
from hardware.card.apdu import CommandApdu
from hardware.card.ktpel import CardProfile, KtpelProfile
from hardware.card.ktpel_crypto import (
    AuthKeys,
    SecureChannel,
    SessionKeys,
    cmac,
    make_cryptogram,
    open_cryptogram,
    pad,
    unpad_in_place,
    wipe,
)
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
    build_identity_file,
    build_template_file,
    card_for,
    identity_values,
)
from simulators.personas import PERSONAS, persona
from simulators.vpcd import VirtualCard


def read(card: VirtualCard, sam: VirtualCard | None = None) -> CardContents:
    """Read `card` with `sam` (an activated SAM by default) through in-process transports."""
    return KtpelProfile().read(DirectTransport(card), DirectTransport(sam or VirtualSam()))


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
    profile: CardProfile = KtpelProfile()
    assert profile.name == "ktpel-sim-v1"


def test_read_apdu_sequence() -> None:
    card, sam = DirectTransport(card_for("ayu")), DirectTransport(VirtualSam())
    KtpelProfile().read(card, sam)
    card_ins = [(a[0], a[1]) for a in card.sent]
    assert card_ins[:4] == [(0x00, 0xA4), (0x00, 0x84), (0x00, 0x82), (0x00, 0xA4)]
    assert card_ins.count((0x0C, 0xB0)) == 8  # identity 2 chunks, templates 3 chunks each
    assert len(card.sent) == 14
    assert [(a[0], a[1]) for a in sam.sent] == [(0x00, 0xA4), (0x80, 0x8A), (0x80, 0x8C)]


def test_small_chunks_read_the_same() -> None:
    contents = KtpelProfile(chunk_size=16).read(
        DirectTransport(card_for("bagas")), DirectTransport(VirtualSam())
    )
    assert contents.identity[IdentityField.NIK] == persona("bagas").nik.encode()
    with pytest.raises(ValueError):
        KtpelProfile(chunk_size=0)


def test_repeated_reads_on_one_card() -> None:
    card, sam = card_for("ayu"), VirtualSam()
    for _ in range(3):
        read(card, sam).wipe()


# --- SAM states ---------------------------------------------------------------------------------


def test_sam_not_activated() -> None:
    with pytest.raises(SamNotAuthorisedError) as info:
        read(card_for("ayu"), VirtualSam(activated=False))
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
        KtpelProfile().read(DirectTransport(card_for("ayu")), DeactivateAfterSelect(VirtualSam()))
    assert info.value.sw == 0x6985


def test_card_in_the_sam_slot_is_no_sam() -> None:
    with pytest.raises(SamMissingError) as info:
        read(card_for("ayu"), card_for("bagas"))
    assert info.value.sw == 0x6A82


def test_sam_in_the_card_slot_is_not_a_ktpel_card() -> None:
    with pytest.raises(MalformedCardDataError) as info:
        read(VirtualSam(), VirtualSam())
    assert info.value.sw == 0x6A82


# --- authentication -----------------------------------------------------------------------------


def test_cloned_card_fails_at_the_sam() -> None:
    card, sam = card_for("ayu", CardFault.CLONED), VirtualSam()
    with pytest.raises(CardNotAuthenticError) as info:
        KtpelProfile().read(DirectTransport(card), DirectTransport(sam))
    assert info.value.sw == 0x6300
    assert sam.apdu_count == 3  # it got as far as VERIFY CARD


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


# --- parsers of card data -----------------------------------------------------------------------


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


# --- crypto and secure messaging ------------------------------------------------------------


def test_cmac_rfc4493_vectors() -> None:
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert cmac(key).hex() == "bb1d6929e95937287fa37d129b756746"
    msg = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert cmac(key, msg).hex() == "070a16b46b4d4144f79bdd9dd04a287c"


def test_padding() -> None:
    assert pad(b"") == b"\x80" + bytes(15)
    assert pad(bytes(15)) == bytes(15) + b"\x80"
    assert len(pad(bytes(16))) == 32
    buf = bytearray(pad(b"abc"))
    unpad_in_place(buf)
    assert buf == b"abc"
    for bad in (bytes(16), b"abc" + bytes(13), b"\x80" + bytes(31)):
        with pytest.raises(MalformedCardDataError):
            unpad_in_place(bytearray(bad))


def test_wipe_zeroes_even_with_a_live_view() -> None:
    buf = bytearray(b"secret")
    view = memoryview(buf)
    wipe(buf)
    assert bytes(view) == bytes(6)
    view.release()
    other = bytearray(b"secret")
    wipe(other)
    assert other == b""


def test_cryptogram_round_trip_and_tamper() -> None:
    keys = AuthKeys.from_card_key(bytes(range(16)))
    blob = make_cryptogram(keys, b"A" * 8, b"B" * 8, b"C" * 16)
    assert open_cryptogram(keys, blob) == (b"A" * 8, b"B" * 8, bytearray(b"C" * 16))
    tampered = bytes([blob[0] ^ 1]) + blob[1:]
    with pytest.raises(CardNotAuthenticError):
        open_cryptogram(keys, tampered)
    with pytest.raises(CardNotAuthenticError):
        open_cryptogram(keys, blob[:-1])
    keys.wipe()
    assert keys.enc == b"" and keys.mac == b""


def _pair() -> tuple[SecureChannel, SecureChannel]:
    def keys() -> SessionKeys:
        return SessionKeys.derive(b"\x01" * 16, b"\x02" * 16, b"\x03" * 8, b"\x04" * 8)

    return SecureChannel(keys()), SecureChannel(keys())


def test_secure_messaging_round_trip() -> None:
    host, card = _pair()
    for plain in (b"", b"x", bytes(223)):
        cmd = host.protect_command(0xB0, 0x01, 0x02, len(plain) or 1)
        assert cmd.cla == 0x0C
        assert card.unprotect_command(CommandApdu.parse(cmd.to_bytes())) == (len(plain) or 1)
        data = card.protect_response(plain, 0x9000)
        assert len(data) <= 256
        out, sw = host.unprotect_response(data, 0x9000)
        assert (bytes(out), sw) == (plain, 0x9000)


def test_secure_messaging_rejects_tampering_replay_and_sw_mismatch() -> None:
    host, card = _pair()
    card.unprotect_command(host.protect_command(0xB0, 0, 0, 4))
    data = card.protect_response(b"abcd", 0x9000)
    flipped = data[:5] + bytes([data[5] ^ 1]) + data[6:]
    with pytest.raises(MalformedCardDataError):
        host.unprotect_response(flipped, 0x9000)
    host, card = _pair()
    card.unprotect_command(host.protect_command(0xB0, 0, 0, 4))
    data = card.protect_response(b"abcd", 0x9000)
    with pytest.raises(MalformedCardDataError):
        host.unprotect_response(data, 0x6282)  # plain SW disagrees with DO99
    host, card = _pair()
    card.unprotect_command(host.protect_command(0xB0, 0, 0, 4))
    data = card.protect_response(b"abcd", 0x9000)
    host.unprotect_response(data, 0x9000)
    host.protect_command(0xB0, 0, 4, 4)
    with pytest.raises(MalformedCardDataError):
        host.unprotect_response(data, 0x9000)  # replayed: the counter moved on


def test_closed_channel_refuses_to_work() -> None:
    host, _ = _pair()
    host.wipe()
    with pytest.raises(MalformedCardDataError):
        host.protect_command(0xB0, 0, 0, 4)


def test_session_key_block() -> None:
    keys = SessionKeys.derive(b"\x01" * 16, b"\x02" * 16, b"\x03" * 8, b"\x04" * 8)
    block = keys.to_bytes()
    assert len(block) == 48 and block[32:] == bytes(8) + b"\x03" * 4 + b"\x04" * 4
    again = SessionKeys.from_bytes(block)
    assert (again.enc, again.mac, again.ssc) == (keys.enc, keys.mac, keys.ssc)
    with pytest.raises(MalformedCardDataError):
        SessionKeys.from_bytes(block[:-1])
