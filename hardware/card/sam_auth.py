"""The SAM's binding to its kiosk, host side: the kiosk proves its host key before every read.

Pure code over an `ApduTransport` and a `HostKey` (one method, AES-CMAC with the key): in the
kiosk the key lives in its PKCS#11 token (`common.token_secret.TokenAesKey`), never in a file.
docs/ktpel-card-protocol.md ("Host binding") specifies the commands, status words and state
machine; `simulators.card.sam_binding` is the SAM side.

One authentication (GET CHALLENGE, AUTHENTICATE HOST) allows one card authentication: the SAM
releases the card's session keys only after it, wrapped under keys derived from the host key
and both nonces (`HostSession.unwrap`), and forgets it at VERIFY CARD, SELECT or reset.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from common.buffers import wipe
from hardware.card.apdu import SW, ApduTransport, CommandApdu, exchange
from hardware.card.ktpel_crypto import BLOCK, KEY_SIZE, MAC_SIZE, SESSION_KEYS_SIZE, SessionKeys
from hardware.card.ktpel_crypto import cmac as aes_cmac
from hardware.errors import (
    CardError,
    SamHostKeyRejectedError,
    SamMissingError,
    SamNotAuthorisedError,
    SamNotBoundError,
)

Buffer = bytes | bytearray | memoryview

SAM_AID = bytes.fromhex("D360000001") + b"KTPSAM"  # as hardware.card.ktpel.SAM_AID
CLA_PROPRIETARY = 0x80
INS_GET_CHALLENGE = 0x84  # SAM: -> RND.S (16)
INS_AUTHENTICATE_HOST = 0x82  # SAM: RND.H || C.H -> C.S
INS_SET_HOST_KEY = 0xD8  # SAM, unbound only: K_H || KCV
INS_UNBIND = 0xE4  # SAM: P1 00 by the host (C.U), P1 01 by the issuer (C.I)
UNBIND_BY_HOST = 0x00
UNBIND_BY_ISSUER = 0x01

NONCE_SIZE = 16
KCV_SIZE = 3
WRAPPED_KEYS_SIZE = SESSION_KEYS_SIZE + MAC_SIZE  # E (48) || M (8)

LABEL_HOST = b"HAUT"  # C.H: the host's proof
LABEL_SAM = b"SAUT"  # C.S: the SAM's proof
LABEL_WRAP_ENC = b"WENC"
LABEL_WRAP_MAC = b"WMAC"
LABEL_UNBIND = b"UBND"  # C.U: the host releases the SAM
LABEL_ISSUER_RESET = b"IRST"  # C.I: the issuer resets the SAM

_ZERO_IV = bytes(BLOCK)


class HostKey(Protocol):
    """The kiosk's SAM host key (AES-128), usable only for AES-CMAC where it lives."""

    def cmac(self, data: bytes) -> bytes:
        """AES-CMAC (SP 800-38B) of `data` under the key: 16 bytes."""
        ...


class MemoryHostKey:
    """A host key held in memory: for tests and benchmarks only (the kiosk uses its token)."""

    def __init__(self, value: Buffer) -> None:
        if len(value) != KEY_SIZE:
            raise ValueError(f"a host key is {KEY_SIZE} bytes")
        self._value = bytearray(value)

    def cmac(self, data: bytes) -> bytes:
        """AES-CMAC under the key."""
        return aes_cmac(self._value, data)

    def __repr__(self) -> str:
        return "MemoryHostKey(<secret>)"


def kdf_input(label: bytes, context: Buffer) -> bytes:
    """The SP 800-108 counter-mode block the KDF MACs: 01 || label || 00 || context || 0080."""
    return b"\x01" + label + b"\x00" + bytes(context) + b"\x00\x80"


def host_kdf(key: HostKey, label: bytes, context: Buffer) -> bytearray:
    """KDF(K_H, label, context), computed where the host key lives."""
    return bytearray(key.cmac(kdf_input(label, context)))


def key_check_value(value: Buffer) -> bytes:
    """The key check value of an AES key: AES(K, 0^16)[0:3] (GlobalPlatform style)."""
    enc = Cipher(algorithms.AES(bytes(value)), modes.ECB()).encryptor()  # noqa: S305 one block
    return (enc.update(bytes(BLOCK)) + enc.finalize())[:KCV_SIZE]


def wrap_session_keys(enc_key: Buffer, mac_key: Buffer, block: Buffer) -> bytes:
    """E || M: E = AES-CBC(K_W_enc, 0, KS_enc || KS_mac || SSC), M = CMAC(K_W_mac, E)[:8]."""
    if len(block) != SESSION_KEYS_SIZE:
        raise ValueError("a session key block is 48 bytes")
    enc = Cipher(algorithms.AES(bytes(enc_key)), modes.CBC(_ZERO_IV)).encryptor()
    e = enc.update(bytes(block)) + enc.finalize()
    return e + aes_cmac(mac_key, e)[:MAC_SIZE]


@dataclass(eq=False, repr=False)
class HostSession:
    """One authentication's wrapping keys, and the nonces that bind a release of the SAM to it."""

    context: bytes  # RND.S || RND.H
    enc: bytearray
    mac: bytearray

    def unwrap(self, wrapped: Buffer) -> SessionKeys:
        """The card's session keys from the SAM's wrapped answer; SamNotAuthorisedError if false."""
        if len(wrapped) != WRAPPED_KEYS_SIZE:
            raise SamNotAuthorisedError("SAM released a key block of the wrong length")
        view = memoryview(bytes(wrapped))
        e, m = view[:SESSION_KEYS_SIZE], view[SESSION_KEYS_SIZE:]
        if not hmac.compare_digest(aes_cmac(self.mac, e)[:MAC_SIZE], m):
            raise SamNotAuthorisedError("the SAM's key block does not verify under the host key")
        dec = Cipher(algorithms.AES(bytes(self.enc)), modes.CBC(_ZERO_IV)).decryptor()
        plain = bytearray(SESSION_KEYS_SIZE + BLOCK)
        n = dec.update_into(e, plain)
        dec.finalize()
        try:
            return SessionKeys.from_bytes(memoryview(plain)[:n])
        finally:
            wipe(plain)

    def wipe(self) -> None:
        """Overwrite the wrapping keys."""
        wipe(self.enc, self.mac)


def sam_refused(what: str, sw: int) -> CardError:
    """The error for a SAM's refusal status word."""
    if sw == SW.REFERENCED_DATA_NOT_FOUND:
        return SamNotBoundError(
            f"SAM refused {what}: it is not bound to any kiosk; run kiosk-provision's SAM step", sw
        )
    if sw == SW.SECURITY_STATUS_NOT_SATISFIED:
        return SamNotAuthorisedError(
            f"SAM refused {what}: the kiosk has not authenticated with its host key", sw
        )
    if sw == SW.FILE_NOT_FOUND:
        return SamMissingError("the SAM slot holds a card that is not a KTP-el SAM", sw)
    return SamNotAuthorisedError(f"SAM refused {what}", sw)


def select_sam(sam: ApduTransport) -> None:
    """SELECT the SAM application (which also ends any authentication)."""
    cmd = CommandApdu(0x00, 0xA4, 0x04, 0x0C, SAM_AID)
    _, sw = exchange(sam, cmd)
    if sw != SW.SUCCESS:
        raise sam_refused("SELECT", sw)


def get_challenge(sam: ApduTransport) -> bytes:
    """RND.S: the SAM's challenge for one authentication (host or issuer)."""
    cmd = CommandApdu(CLA_PROPRIETARY, INS_GET_CHALLENGE, 0, 0, ne=NONCE_SIZE)
    rnd, sw = exchange(sam, cmd)
    if sw != SW.SUCCESS:
        raise sam_refused("GET CHALLENGE", sw)
    if len(rnd) != NONCE_SIZE:
        raise SamNotAuthorisedError("SAM challenge has the wrong length")
    return rnd


def authenticate_host(sam: ApduTransport, key: HostKey) -> HostSession:
    """Prove the host key to the selected SAM and check its proof; the wrapping keys."""
    rnd_s = get_challenge(sam)
    rnd_h = os.urandom(NONCE_SIZE)
    context = rnd_s + rnd_h
    proof = host_kdf(key, LABEL_HOST, context)
    cmd = CommandApdu(CLA_PROPRIETARY, INS_AUTHENTICATE_HOST, 0, 0, rnd_h + bytes(proof), ne=256)
    answer, sw = exchange(sam, cmd)
    if sw == SW.AUTHENTICATION_FAILED:
        raise SamHostKeyRejectedError(
            "SAM refused this kiosk's host key: it is bound to another kiosk (or the token's "
            "key was replaced); the SAM's issuer must reset it before kiosk-provision binds it",
            sw,
        )
    if sw != SW.SUCCESS:
        raise sam_refused("to authenticate the kiosk", sw)
    expected = host_kdf(key, LABEL_SAM, context)
    if len(answer) != len(expected) or not hmac.compare_digest(answer, expected):
        raise SamNotAuthorisedError("the SAM did not prove the host key: not this kiosk's SAM")
    return HostSession(
        context, host_kdf(key, LABEL_WRAP_ENC, context), host_kdf(key, LABEL_WRAP_MAC, context)
    )


def set_host_key(sam: ApduTransport, value: Buffer) -> None:
    """SET HOST KEY on the selected, unbound SAM (K_H || KCV)."""
    if len(value) != KEY_SIZE:
        raise ValueError(f"a host key is {KEY_SIZE} bytes")
    data = bytes(value) + key_check_value(value)
    _, sw = exchange(sam, CommandApdu(CLA_PROPRIETARY, INS_SET_HOST_KEY, 0, 0, data))
    if sw == SW.COMMAND_NOT_ALLOWED:
        raise SamHostKeyRejectedError(
            "SAM is already bound to a kiosk; the SAM's issuer must reset it first", sw
        )
    if sw != SW.SUCCESS:
        raise sam_refused("SET HOST KEY", sw)


def unbind(sam: ApduTransport, key: HostKey) -> None:
    """Release the selected SAM from this kiosk (UNBIND by the host, after authenticating)."""
    session = authenticate_host(sam, key)
    try:
        proof = host_kdf(key, LABEL_UNBIND, session.context)
    finally:
        session.wipe()
    _, sw = exchange(sam, CommandApdu(CLA_PROPRIETARY, INS_UNBIND, UNBIND_BY_HOST, 0, bytes(proof)))
    if sw != SW.SUCCESS:
        raise sam_refused("UNBIND", sw)
