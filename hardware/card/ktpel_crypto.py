"""Cryptography of the KTP-el card profile: key derivation, authentication cryptograms, and
secure messaging (SM) for protected READ BINARY. Pure code over `cryptography`'s AES and CMAC.

The scheme (see docs/ktpel-card-protocol.md) follows ICAO 9303 BAC/SM with AES-128 and CMAC:
keys are diversified from a master key with CMAC (NXP AN10922 style), derived with a one-block
CMAC KDF in counter mode (NIST SP 800-108), cryptograms are AES-CBC with a truncated CMAC, and
protected responses carry DO87 (encrypted data), DO99 (status word) and DO8E (MAC) under a
send-sequence counter. Secrets live in `bytearray`s and are wiped by their owners.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from common.buffers import wipe
from hardware.card import tlv
from hardware.card.apdu import CommandApdu
from hardware.errors import CardNotAuthenticError, MalformedCardDataError

Buffer = bytes | bytearray | memoryview

BLOCK = 16
KEY_SIZE = 16
MAC_SIZE = 8
NONCE_SIZE = 8
SEED_SIZE = 16
CRYPTOGRAM_SIZE = 2 * NONCE_SIZE + SEED_SIZE + MAC_SIZE  # E (32 bytes) || M (8 bytes)
SESSION_KEYS_SIZE = 2 * KEY_SIZE + BLOCK  # KS_enc || KS_mac || SSC

TAG_ENCRYPTED = 0x87  # padding-content indicator 01 || ciphertext
TAG_STATUS = 0x99
TAG_MAC = 0x8E
TAG_LE = 0x97
CLA_SM = 0x0C  # secure messaging, command header authenticated

_ZERO_IV = bytes(BLOCK)


def pad(data: Buffer) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 80 then zeros up to a whole block."""
    fill = BLOCK - (len(data) % BLOCK)
    return bytes(data) + b"\x80" + bytes(fill - 1)


def unpad_in_place(buf: bytearray) -> None:
    """Strip ISO/IEC 9797-1 method 2 padding; MalformedCardDataError if it is not there."""
    end = len(buf)
    while end and buf[end - 1] == 0x00:
        end -= 1
    if not end or buf[end - 1] != 0x80 or len(buf) - end >= BLOCK:
        raise MalformedCardDataError("bad padding in decrypted card data")
    buf[end - 1 :] = bytes(len(buf) - end + 1)
    del buf[end - 1 :]


def cmac(key: Buffer, *parts: Buffer) -> bytes:
    """AES-CMAC over the concatenation of `parts` (16 bytes)."""
    mac = CMAC(algorithms.AES(key))
    for part in parts:
        mac.update(bytes(part))
    return mac.finalize()


def kdf(key: Buffer, label: bytes, context: Buffer = b"") -> bytearray:
    """One 128-bit key: CMAC(key, 01 || label || 00 || context || 0080), SP 800-108 counter."""
    return bytearray(cmac(key, b"\x01", label, b"\x00", context, b"\x00\x80"))


def diversify(master_key: Buffer, serial: Buffer, aid: bytes) -> bytearray:
    """The card key: CMAC(master, 01 || chip serial || application AID)."""
    return bytearray(cmac(master_key, b"\x01", serial, aid))


def _encrypt(key: Buffer, iv: Buffer, data: Buffer) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CBC(bytes(iv))).encryptor()
    return enc.update(data) + enc.finalize()


def _decrypt_into(key: Buffer, iv: Buffer, data: Buffer) -> bytearray:
    dec = Cipher(algorithms.AES(key), modes.CBC(bytes(iv))).decryptor()
    out = bytearray(len(data) + BLOCK - 1)
    n = dec.update_into(data, out)
    dec.finalize()
    out[n:] = bytes(len(out) - n)
    del out[n:]
    return out


def _block(key: Buffer, block: Buffer) -> bytes:
    return _encrypt(key, _ZERO_IV, block)  # one block: CBC with a zero IV is the block cipher


# --- Mutual authentication (between card and SAM; the host only relays) -----------------------


@dataclass(eq=False, repr=False)
class AuthKeys:
    """The card's authentication keys, derived from its diversified card key."""

    enc: bytearray
    mac: bytearray

    @classmethod
    def from_card_key(cls, card_key: Buffer) -> AuthKeys:
        """K_enc = KDF(K_card, "KENC"), K_mac = KDF(K_card, "KMAC")."""
        return cls(kdf(card_key, b"KENC"), kdf(card_key, b"KMAC"))

    def wipe(self) -> None:
        """Overwrite both keys."""
        wipe(self.enc, self.mac)


def make_cryptogram(keys: AuthKeys, first: Buffer, second: Buffer, seed: Buffer) -> bytes:
    """E || M with E = AES-CBC(K_enc, 0, first || second || seed), M = CMAC(K_mac, E)[:8]."""
    if len(first) != NONCE_SIZE or len(second) != NONCE_SIZE or len(seed) != SEED_SIZE:
        raise ValueError("cryptogram parts have the wrong sizes")
    e = _encrypt(keys.enc, _ZERO_IV, bytes(first) + bytes(second) + bytes(seed))
    return e + cmac(keys.mac, e)[:MAC_SIZE]


def open_cryptogram(keys: AuthKeys, blob: Buffer) -> tuple[bytes, bytes, bytearray]:
    """Check the MAC and decrypt; (first nonce, second nonce, key seed) or CardNotAuthenticError."""
    if len(blob) != CRYPTOGRAM_SIZE:
        raise CardNotAuthenticError("authentication cryptogram has the wrong length")
    view = memoryview(bytes(blob))
    e, m = view[: CRYPTOGRAM_SIZE - MAC_SIZE], view[CRYPTOGRAM_SIZE - MAC_SIZE :]
    if not hmac.compare_digest(cmac(keys.mac, e)[:MAC_SIZE], m):
        raise CardNotAuthenticError("authentication cryptogram MAC does not verify")
    plain = _decrypt_into(keys.enc, _ZERO_IV, e)
    first, second = bytes(plain[:NONCE_SIZE]), bytes(plain[NONCE_SIZE : 2 * NONCE_SIZE])
    seed = bytearray(plain[2 * NONCE_SIZE :])
    wipe(plain)
    return first, second, seed


@dataclass(eq=False, repr=False)
class SessionKeys:
    """Secure messaging keys and the 16-byte send-sequence counter."""

    enc: bytearray
    mac: bytearray
    ssc: bytearray

    @classmethod
    def derive(
        cls, seed_host: Buffer, seed_card: Buffer, rnd_card: Buffer, rnd_host: Buffer
    ) -> SessionKeys:
        """KS = KDF(K.IFD xor K.IC, "SENC"/"SMAC", RND.IC || RND.IFD); SSC from the nonces."""
        seed = bytearray(a ^ b for a, b in zip(seed_host, seed_card, strict=True))
        context = bytes(rnd_card) + bytes(rnd_host)
        keys = cls(
            kdf(seed, b"SENC", context),
            kdf(seed, b"SMAC", context),
            bytearray(bytes(8) + bytes(rnd_card[4:]) + bytes(rnd_host[4:])),
        )
        wipe(seed)
        return keys

    @classmethod
    def from_bytes(cls, data: Buffer) -> SessionKeys:
        """Split the SAM's answer KS_enc || KS_mac || SSC."""
        if len(data) != SESSION_KEYS_SIZE:
            raise MalformedCardDataError("session key block has the wrong length")
        raw = bytearray(data)
        keys = cls(raw[:KEY_SIZE], raw[KEY_SIZE : 2 * KEY_SIZE], raw[2 * KEY_SIZE :])
        wipe(raw)
        return keys

    def to_bytes(self) -> bytearray:
        """KS_enc || KS_mac || SSC (what the SAM releases)."""
        return self.enc + self.mac + self.ssc

    def wipe(self) -> None:
        """Overwrite keys and counter."""
        wipe(self.enc, self.mac, self.ssc)


# --- Secure messaging ---------------------------------------------------------------------------


def _parse_with_offsets(view: memoryview) -> list[tuple[tlv.Tlv, int]]:
    objects: list[tuple[tlv.Tlv, int]] = []
    pos = 0
    while pos < len(view):
        start = pos
        obj, pos = tlv.parse_one(view, pos)
        objects.append((obj, start))
    return objects


class SecureChannel:
    """ISO/IEC 7816-4 secure messaging with AES: both ends (host and card) of one session."""

    def __init__(self, keys: SessionKeys) -> None:
        self._keys = keys

    def wipe(self) -> None:
        """Forget the session keys."""
        self._keys.wipe()

    def _step(self) -> bytes:
        ssc = self._keys.ssc
        if len(ssc) != BLOCK:
            raise MalformedCardDataError("secure messaging session is closed")
        value = (int.from_bytes(ssc, "big") + 1) % (1 << (8 * BLOCK))
        ssc[:] = value.to_bytes(BLOCK, "big")
        return bytes(ssc)

    # host side

    def protect_command(self, ins: int, p1: int, p2: int, ne: int) -> CommandApdu:
        """A data-less command with DO97 (Le) and DO8E (MAC), CLA 0C."""
        ssc = self._step()
        header = bytes((CLA_SM, ins, p1, p2))
        do97 = tlv.build(TAG_LE, bytes((ne & 0xFF,)))
        mac = cmac(self._keys.mac, pad(ssc + pad(header) + do97))[:MAC_SIZE]
        return CommandApdu(CLA_SM, ins, p1, p2, do97 + tlv.build(TAG_MAC, mac), ne=256)

    def unprotect_response(self, data: Buffer, sw: int) -> tuple[bytearray, int]:
        """Verify DO8E, check DO99 against `sw`, decrypt DO87: (plaintext, status word)."""
        ssc = self._step()
        view = memoryview(bytes(data))
        objects = _parse_with_offsets(view)
        tags = [o.tag for o, _ in objects]
        if tags not in ([TAG_ENCRYPTED, TAG_STATUS, TAG_MAC], [TAG_STATUS, TAG_MAC]):
            raise MalformedCardDataError("protected response does not hold DO87/DO99/DO8E")
        mac_obj, mac_start = objects[-1]
        status = objects[-2][0]
        if len(mac_obj.value) != MAC_SIZE or len(status.value) != 2:
            raise MalformedCardDataError("protected response DO99/DO8E have wrong lengths")
        expected = cmac(self._keys.mac, pad(ssc + bytes(view[:mac_start])))[:MAC_SIZE]
        if not hmac.compare_digest(expected, mac_obj.value):
            raise MalformedCardDataError("protected response MAC does not verify")
        inner_sw = int.from_bytes(status.value, "big")
        if inner_sw != sw:
            raise MalformedCardDataError("protected and plain status words disagree", sw)
        if len(objects) == 2:
            return bytearray(), sw
        enc = objects[0][0].value
        if len(enc) < 1 + BLOCK or enc[0] != 0x01 or (len(enc) - 1) % BLOCK:
            raise MalformedCardDataError("protected response DO87 is malformed")
        iv = _block(self._keys.enc, ssc)
        plain = _decrypt_into(self._keys.enc, iv, enc[1:])
        try:
            unpad_in_place(plain)
        except MalformedCardDataError:
            wipe(plain)
            raise
        return plain, sw

    # card side (used by the virtual card)

    def unprotect_command(self, command: CommandApdu) -> int:
        """Verify a data-less protected command; return its Ne from DO97."""
        ssc = self._step()
        if command.cla & 0x0C != 0x0C:
            raise MalformedCardDataError("command is not protected")
        view = memoryview(command.data)
        objects = _parse_with_offsets(view)
        if [o.tag for o, _ in objects] != [TAG_LE, TAG_MAC]:
            raise MalformedCardDataError("protected command does not hold DO97/DO8E")
        (do97, _), (mac, mac_start) = objects
        if len(do97.value) != 1 or len(mac.value) != MAC_SIZE:
            raise MalformedCardDataError("protected command DO97/DO8E have wrong lengths")
        body = bytes(view[:mac_start])
        expected = cmac(self._keys.mac, pad(ssc + pad(command.header) + body))[:MAC_SIZE]
        if not hmac.compare_digest(expected, mac.value):
            raise MalformedCardDataError("protected command MAC does not verify")
        return do97.value[0] or 256

    def protect_response(self, plain: Buffer, sw: int) -> bytes:
        """DO87 (if there is data) || DO99 || DO8E."""
        ssc = self._step()
        body = b""
        if plain:
            iv = _block(self._keys.enc, ssc)
            body = tlv.build(TAG_ENCRYPTED, b"\x01" + _encrypt(self._keys.enc, iv, pad(plain)))
        body += tlv.build(TAG_STATUS, sw.to_bytes(2, "big"))
        mac = cmac(self._keys.mac, pad(ssc + body))[:MAC_SIZE]
        return body + tlv.build(TAG_MAC, mac)
