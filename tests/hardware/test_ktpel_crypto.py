"""The KTP-el crypto primitives against their vectors: AES-CMAC, padding, wipe, the
authentication cryptogram, secure messaging and the session key block."""

from __future__ import annotations

import pytest

from common.buffers import wipe
from hardware.card.apdu import CommandApdu
from hardware.card.ktpel_crypto import (
    AuthKeys,
    SecureChannel,
    SessionKeys,
    cmac,
    make_cryptogram,
    open_cryptogram,
    pad,
    unpad_in_place,
)
from hardware.errors import CardNotAuthenticError, MalformedCardDataError


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
