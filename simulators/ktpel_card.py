"""A virtual KTP-el card and a virtual SAM, speaking the profile of docs/ktpel-card-protocol.md.

Both are `simulators.vpcd.VirtualCard`s: put them into a `VirtualSlot` and the real pcscd serves
them to the real driver. The card is personalised from a synthetic persona; a `CardFault` makes
it misbehave the way damaged, forged or pulled cards do. The master key below is a made-up
simulation value; real SAMs hold theirs in hardware.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from common.buffers import wipe
from hardware.card import ktpel, tlv
from hardware.card.apdu import SW, CommandApdu, ResponseApdu
from hardware.card.ktpel_crypto import (
    CRYPTOGRAM_SIZE,
    NONCE_SIZE,
    SEED_SIZE,
    AuthKeys,
    SecureChannel,
    SessionKeys,
    diversify,
    make_cryptogram,
    open_cryptogram,
)
from hardware.card.reader import Finger, IdentityField
from hardware.errors import CardNotAuthenticError, CardRemovedError, MalformedCardDataError
from protocol.nik import Sex
from simulators.personas import Persona, persona
from simulators.vpcd import CardVanished, VirtualCard

SIMULATED_MASTER_KEY = bytes.fromhex("5349_4d2d_4b54_5045_4c2d_4d41_5354_4552".replace("_", ""))
"""The simulated Dukcapil master key ("SIM-KTPEL-MASTER"); only virtual SAMs hold it."""

FORGER_MASTER_KEY = bytes.fromhex("464f524745522d4e4f542d444b43504c")
"""The key a forger's clone uses instead ("FORGER-NOT-DKCPL")."""


def make_atr(historical: bytes) -> bytes:
    """A T=1 ATR with the given historical bytes and a correct TCK."""
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


CARD_ATR = make_atr(b"\x80\x56KTPEL1")
SAM_ATR = make_atr(b"\x80\x56KTPSAM")


class FaultKind(Enum):
    """How a virtual card misbehaves."""

    CLONED = "cloned"  # a forger's copy: right serial and data, wrong key
    TRUNCATED_TLV = "truncated_tlv"  # identity file ends inside its last field
    INCONSISTENT_TLV = "inconsistent_tlv"  # identity template length disagrees with its fields
    WRONG_LENGTH = "wrong_length"  # right-index template file shorter/longer than declared
    SLOW = "slow"  # every answer delayed by `delay` seconds
    VANISH_AT = "vanish_at"  # the card leaves the slot when it receives its `at`-th APDU


@dataclass(frozen=True)
class CardFault:
    """A fault to build into a virtual card. Text form: "cloned", "slow:0.2", "vanish_at:5"."""

    kind: FaultKind
    delay: float = 0.0
    at: int = 0
    delta: int = 0

    CLONED: ClassVar[CardFault]
    TRUNCATED_TLV: ClassVar[CardFault]
    INCONSISTENT_TLV: ClassVar[CardFault]
    WRONG_LENGTH: ClassVar[CardFault]

    @classmethod
    def slow(cls, delay: float) -> CardFault:
        """Every APDU answered `delay` seconds late."""
        if delay < 0:
            raise ValueError("delay must not be negative")
        return cls(FaultKind.SLOW, delay=delay)

    @classmethod
    def vanish_at(cls, n: int) -> CardFault:
        """The card disappears when it receives its n-th APDU (1-based)."""
        if n < 1:
            raise ValueError("n counts APDUs from 1")
        return cls(FaultKind.VANISH_AT, at=n)

    @classmethod
    def wrong_length(cls, delta: int = -32) -> CardFault:
        """Template file `delta` bytes longer (>0) or shorter (<0) than its declaration."""
        if delta == 0:
            raise ValueError("delta must not be zero")
        return cls(FaultKind.WRONG_LENGTH, delta=delta)

    @classmethod
    def parse(cls, text: str) -> CardFault:
        """From "cloned", "truncated_tlv", "inconsistent_tlv", "wrong_length[:delta]",
        "slow:<seconds>" or "vanish_at:<n>"."""
        name, _, arg = text.strip().lower().partition(":")
        try:
            kind = FaultKind(name)
            if kind is FaultKind.SLOW:
                return cls.slow(float(arg))
            if kind is FaultKind.VANISH_AT:
                return cls.vanish_at(int(arg))
            if kind is FaultKind.WRONG_LENGTH:
                return cls.wrong_length(int(arg)) if arg else cls.WRONG_LENGTH
        except ValueError as err:
            raise ValueError(f"bad card fault {text!r}: {err}") from None
        if arg:
            raise ValueError(f"card fault {name!r} takes no argument")
        return cls(kind)

    def __str__(self) -> str:
        if self.kind is FaultKind.SLOW:
            return f"slow:{self.delay:g}"
        if self.kind is FaultKind.VANISH_AT:
            return f"vanish_at:{self.at}"
        if self.kind is FaultKind.WRONG_LENGTH:
            return f"wrong_length:{self.delta}"
        return str(self.kind.value)


CardFault.CLONED = CardFault(FaultKind.CLONED)
CardFault.TRUNCATED_TLV = CardFault(FaultKind.TRUNCATED_TLV)
CardFault.INCONSISTENT_TLV = CardFault(FaultKind.INCONSISTENT_TLV)
CardFault.WRONG_LENGTH = CardFault(FaultKind.WRONG_LENGTH, delta=-32)


def _r(data: bytes, sw: int) -> bytes:
    return bytes(data) + sw.to_bytes(2, "big")


def identity_values(p: Persona) -> dict[IdentityField, bytes]:
    """The identity fields as the card stores them (UTF-8), in IdentityField order."""
    sex = "LAKI-LAKI" if p.sex is Sex.MALE else "PEREMPUAN"
    text = {
        IdentityField.NIK: p.nik,
        IdentityField.KK_NUMBER: p.kk_number,
        IdentityField.FULL_NAME: p.full_name,
        IdentityField.SEX: sex,
        IdentityField.BIRTH_PLACE: p.birth_place,
        IdentityField.BIRTH_DATE: p.birth_date.strftime("%d-%m-%Y"),
        IdentityField.RELIGION: p.religion,
        IdentityField.MARITAL_STATUS: p.marital_status,
        IdentityField.OCCUPATION: p.occupation,
        IdentityField.NATIONALITY: p.nationality,
        IdentityField.ADDRESS: p.address,
        IdentityField.RT: p.rt,
        IdentityField.RW: p.rw,
        IdentityField.VILLAGE: p.village,
        IdentityField.DISTRICT: p.district,
        IdentityField.REGENCY: p.regency,
        IdentityField.PROVINCE: p.province,
        IdentityField.VALID_UNTIL: p.valid_until,
    }
    return {field: text[field].encode() for field in IdentityField}


def build_identity_file(values: Mapping[IdentityField, bytes]) -> bytes:
    """7F70 { 80 NIK, 81 KK number, ... 91 valid until }."""
    fields = [tlv.build(ktpel.IDENTITY_TAGS[f], v) for f, v in values.items()]
    return tlv.build_constructed(ktpel.TAG_IDENTITY, fields)


def build_template_file(template: bytes, finger: Finger) -> bytes:
    """7F60 { 83 finger position, 5F2E template }."""
    position = tlv.build(ktpel.TAG_FINGER_POSITION, bytes((ktpel.FINGER_POSITION[finger],)))
    return tlv.build_constructed(
        ktpel.TAG_BIOMETRIC, [position, tlv.build(ktpel.TAG_TEMPLATE, template)]
    )


@dataclass(frozen=True)
class _File:
    content: bytes
    declared_size: int  # what the FCP says


def _fcp(fid: int, size: int) -> bytes:
    return tlv.build_constructed(
        ktpel.TAG_FCP,
        [
            tlv.build(ktpel.TAG_FILE_SIZE, size.to_bytes(2, "big")),
            tlv.build(0x82, b"\x01"),  # file descriptor: working EF, transparent
            tlv.build(ktpel.TAG_FILE_ID, fid.to_bytes(2, "big")),
        ],
    )


def _serial_for(key: str) -> bytes:
    return hashlib.sha256(b"ktpel-serial/" + key.encode()).digest()[: ktpel.SERIAL_SIZE]


class VirtualKtpelCard:
    """A KTP-el chip personalised for one persona, optionally with a fault."""

    atr = CARD_ATR

    def __init__(
        self,
        who: Persona,
        fault: CardFault | None = None,
        *,
        master_key: bytes = SIMULATED_MASTER_KEY,
    ) -> None:
        self.persona_key = who.key
        self.fault = fault
        self.serial = _serial_for(who.key)
        self.apdu_count = 0
        cloned = fault is not None and fault.kind is FaultKind.CLONED
        card_key = diversify(
            FORGER_MASTER_KEY if cloned else master_key, self.serial, ktpel.KTPEL_AID
        )
        self._auth = AuthKeys.from_card_key(card_key)
        self._files = self._personalise(who)
        self._app_selected = False
        self._current: int | None = None
        self._challenge: bytes | None = None
        self._session: SecureChannel | None = None

    def _personalise(self, who: Persona) -> dict[int, _File]:
        kind = self.fault.kind if self.fault is not None else None
        identity = build_identity_file(identity_values(who))
        id_file = _File(identity, len(identity))
        if kind is FaultKind.TRUNCATED_TLV:
            cut = identity[:-5]
            id_file = _File(cut, len(cut))
        elif kind is FaultKind.INCONSISTENT_TLV:
            header = tlv.encode_tag(ktpel.TAG_IDENTITY)
            _, body_start = tlv.read_length(memoryview(identity), len(header))
            body = identity[body_start:]
            bad = header + tlv.encode_length(len(body) - 3) + body
            id_file = _File(bad, len(bad))
        files = {ktpel.EF_IDENTITY: id_file}
        for finger, fid in ktpel.EF_TEMPLATE.items():
            content = build_template_file(who.template(finger), finger)
            file = _File(content, len(content))
            if kind is FaultKind.WRONG_LENGTH and finger is Finger.RIGHT_INDEX:
                assert self.fault is not None
                delta = self.fault.delta
                if delta < 0:
                    file = _File(content[:delta], len(content))  # shorter than its FCP says
                else:
                    longer = content + b"\xff" * delta  # longer than its TLV says
                    file = _File(longer, len(longer))
            files[fid] = file
        return files

    # --- VirtualCard hooks

    def power_on(self) -> None:
        """Fresh volatile state."""
        self._clear()

    def power_off(self) -> None:
        """Volatile state lost."""
        self._clear()

    def reset(self) -> None:
        """Fresh volatile state."""
        self._clear()

    def _clear(self) -> None:
        self._app_selected = False
        self._current = None
        self._challenge = None
        self._drop_session()

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.wipe()
        self._session = None

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU."""
        self.apdu_count += 1
        fault = self.fault
        if fault is not None:
            if fault.kind is FaultKind.VANISH_AT and self.apdu_count == fault.at:
                raise CardVanished
            if fault.kind is FaultKind.SLOW:
                time.sleep(fault.delay)  # simulated slow chip
        try:
            cmd = CommandApdu.parse(apdu)
        except MalformedCardDataError:
            return _r(b"", SW.WRONG_LENGTH)
        return self._dispatch(cmd)

    def _dispatch(self, cmd: CommandApdu) -> bytes:
        if cmd.cla == ktpel.CLA and cmd.ins == ktpel.INS_SELECT:
            return self._select(cmd)
        if cmd.cla == ktpel.CLA and cmd.ins == ktpel.INS_GET_CHALLENGE:
            return self._get_challenge(cmd)
        if cmd.cla == ktpel.CLA and cmd.ins == ktpel.INS_MUTUAL_AUTHENTICATE:
            return self._mutual_authenticate(cmd)
        if cmd.ins == ktpel.INS_READ_BINARY and cmd.cla in (ktpel.CLA, 0x0C):
            return self._read_binary(cmd)
        if cmd.cla not in (ktpel.CLA, 0x0C):
            return _r(b"", SW.CLA_NOT_SUPPORTED)
        return _r(b"", SW.INS_NOT_SUPPORTED)

    def _select(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 == ktpel.SELECT_BY_AID:
            if cmd.data != ktpel.KTPEL_AID:
                return _r(b"", SW.FILE_NOT_FOUND)
            self._clear()
            self._app_selected = True
            if cmd.p2 == ktpel.SELECT_NO_DATA:
                return _r(b"", SW.SUCCESS)
            return _r(self._fci(), SW.SUCCESS)
        if cmd.p1 == ktpel.SELECT_EF_UNDER_DF:
            fid = int.from_bytes(cmd.data, "big") if len(cmd.data) == 2 else -1
            if not self._app_selected or fid not in self._files:
                return _r(b"", SW.FILE_NOT_FOUND)
            self._current = fid
            if cmd.p2 == ktpel.SELECT_NO_DATA:
                return _r(b"", SW.SUCCESS)
            return _r(_fcp(fid, self._files[fid].declared_size), SW.SUCCESS)
        return _r(b"", SW.INCORRECT_P1_P2)

    def _fci(self) -> bytes:
        proprietary = tlv.build_constructed(
            ktpel.TAG_FCI_PROPRIETARY,
            [
                tlv.build(ktpel.TAG_CHIP_SERIAL, self.serial),
                tlv.build(ktpel.TAG_PROFILE_VERSION, b"\x01"),
            ],
        )
        return tlv.build_constructed(
            ktpel.TAG_FCI, [tlv.build(ktpel.TAG_DF_NAME, ktpel.KTPEL_AID), proprietary]
        )

    def _get_challenge(self, cmd: CommandApdu) -> bytes:
        if not self._app_selected:
            return _r(b"", SW.CONDITIONS_NOT_SATISFIED)
        if cmd.ne != NONCE_SIZE:
            return _r(b"", SW.WRONG_LENGTH)
        self._drop_session()
        self._challenge = os.urandom(NONCE_SIZE)
        return _r(self._challenge, SW.SUCCESS)

    def _mutual_authenticate(self, cmd: CommandApdu) -> bytes:
        challenge, self._challenge = self._challenge, None
        if challenge is None:
            return _r(b"", SW.CONDITIONS_NOT_SATISFIED)
        if len(cmd.data) != CRYPTOGRAM_SIZE:
            return _r(b"", SW.WRONG_LENGTH)
        cloned = self.fault is not None and self.fault.kind is FaultKind.CLONED
        try:
            rnd_host, echoed, seed_host = open_cryptogram(self._auth, cmd.data)
        except CardNotAuthenticError:
            if not cloned:
                return _r(b"", SW.AUTHENTICATION_FAILED)
            # A clone cannot check the host: it answers anyway, under its own (wrong) key.
            rnd_host, echoed, seed_host = os.urandom(8), challenge, bytearray(SEED_SIZE)
        if echoed != challenge:
            return _r(b"", SW.AUTHENTICATION_FAILED)
        seed_card = os.urandom(SEED_SIZE)
        answer = make_cryptogram(self._auth, challenge, rnd_host, seed_card)
        keys = SessionKeys.derive(seed_host, seed_card, challenge, rnd_host)
        self._session = SecureChannel(keys)
        return _r(answer, SW.SUCCESS)

    def _read_binary(self, cmd: CommandApdu) -> bytes:
        session = self._session
        if cmd.cla != 0x0C or session is None:
            return _r(b"", SW.SECURITY_STATUS_NOT_SATISFIED)
        try:
            ne = session.unprotect_command(cmd)
        except MalformedCardDataError:
            self._drop_session()
            return _r(b"", SW.SM_DATA_OBJECTS_INCORRECT)
        if self._current is None:
            return _r(b"", SW.CONDITIONS_NOT_SATISFIED)
        if cmd.p1 & 0x80:
            return _r(b"", SW.INCORRECT_P1_P2)  # short EF identifiers are not supported
        content = self._files[self._current].content
        offset = (cmd.p1 << 8) | cmd.p2
        if offset >= len(content):
            return _r(session.protect_response(b"", SW.WRONG_P1_P2), SW.WRONG_P1_P2)
        chunk = content[offset : offset + ne]
        sw = SW.SUCCESS if len(chunk) == ne else SW.END_OF_FILE
        return _r(session.protect_response(chunk, sw), sw)

    def __repr__(self) -> str:
        return f"VirtualKtpelCard({self.persona_key!r}, fault={self.fault})"


@dataclass(eq=False, repr=False)
class _Pending:
    auth: AuthKeys
    rnd_card: bytes
    rnd_host: bytes
    seed_host: bytearray


class VirtualSam:
    """The reader's SAM: holds the master key, runs the host side of mutual authentication.

    `activated` is False until Dukcapil activates the SAM; a deactivated SAM answers SELECT with
    6283 and refuses to authenticate with 6985. The attribute may be changed at any time.
    """

    atr = SAM_ATR

    def __init__(self, activated: bool = True, *, master_key: bytes = SIMULATED_MASTER_KEY) -> None:
        self.activated = activated
        self.apdu_count = 0
        self._master = bytearray(master_key)
        self._selected = False
        self._pending: _Pending | None = None

    def power_on(self) -> None:
        """Fresh volatile state."""
        self._clear()

    def power_off(self) -> None:
        """Volatile state lost."""
        self._clear()

    def reset(self) -> None:
        """Fresh volatile state."""
        self._clear()

    def _clear(self) -> None:
        self._selected = False
        self._forget()

    def _forget(self) -> None:
        if self._pending is not None:
            self._pending.auth.wipe()
        self._pending = None

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU."""
        self.apdu_count += 1
        try:
            cmd = CommandApdu.parse(apdu)
        except MalformedCardDataError:
            return _r(b"", SW.WRONG_LENGTH)
        if cmd.cla == ktpel.CLA and cmd.ins == ktpel.INS_SELECT and cmd.p1 == ktpel.SELECT_BY_AID:
            if cmd.data != ktpel.SAM_AID:
                return _r(b"", SW.FILE_NOT_FOUND)
            self._clear()
            self._selected = True
            return _r(b"", SW.SUCCESS if self.activated else SW.FILE_DEACTIVATED)
        if cmd.cla != ktpel.CLA_PROPRIETARY:
            return _r(b"", SW.CLA_NOT_SUPPORTED)
        if cmd.ins not in (ktpel.INS_SAM_INIT_AUTH, ktpel.INS_SAM_VERIFY_CARD):
            return _r(b"", SW.INS_NOT_SUPPORTED)
        if not self._selected or not self.activated:
            return _r(b"", SW.CONDITIONS_NOT_SATISFIED)
        if cmd.ins == ktpel.INS_SAM_INIT_AUTH:
            return self._init_auth(cmd)
        return self._verify_card(cmd)

    def _init_auth(self, cmd: CommandApdu) -> bytes:
        self._forget()
        if len(cmd.data) != ktpel.SERIAL_SIZE + NONCE_SIZE:
            return _r(b"", SW.WRONG_LENGTH)
        serial, rnd_card = cmd.data[: ktpel.SERIAL_SIZE], cmd.data[ktpel.SERIAL_SIZE :]
        card_key = diversify(self._master, serial, ktpel.KTPEL_AID)
        auth = AuthKeys.from_card_key(card_key)
        wipe(card_key)
        pending = _Pending(auth, rnd_card, os.urandom(NONCE_SIZE), bytearray(os.urandom(SEED_SIZE)))
        self._pending = pending
        answer = make_cryptogram(auth, pending.rnd_host, rnd_card, pending.seed_host)
        return _r(answer, SW.SUCCESS)

    def _verify_card(self, cmd: CommandApdu) -> bytes:
        pending, self._pending = self._pending, None
        if pending is None:
            return _r(b"", SW.CONDITIONS_NOT_SATISFIED)
        try:
            rnd_card, rnd_host, seed_card = open_cryptogram(pending.auth, cmd.data)
        except CardNotAuthenticError:
            return _r(b"", SW.AUTHENTICATION_FAILED)
        finally:
            pending.auth.wipe()
        if rnd_card != pending.rnd_card or rnd_host != pending.rnd_host:
            return _r(b"", SW.AUTHENTICATION_FAILED)
        keys = SessionKeys.derive(pending.seed_host, seed_card, rnd_card, rnd_host)
        released = bytes(keys.to_bytes())
        keys.wipe()
        return _r(released, SW.SUCCESS)

    def __repr__(self) -> str:
        return f"VirtualSam(activated={self.activated})"


def card_for(persona_key: str, fault: CardFault | str | None = None) -> VirtualKtpelCard:
    """The virtual card of a persona (by key), with an optional fault (object or text form)."""
    if isinstance(fault, str):
        fault = CardFault.parse(fault)
    return VirtualKtpelCard(persona(persona_key), fault)


class DirectTransport:
    """An in-process `ApduTransport` to a virtual card, for unit tests of card profiles.

    The kiosk never uses this: it reaches cards through pcscd. A vanished card raises
    CardRemovedError here, as the PC/SC driver does.
    """

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.sent: list[bytes] = []
        self._gone = False

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        """Hand the APDU to the card."""
        if self._gone:
            raise CardRemovedError("the card left the reader")
        self.sent.append(bytes(apdu))
        try:
            raw = self.card.process(bytes(apdu))
        except CardVanished:
            self._gone = True
            raise CardRemovedError("the card left the reader") from None
        response = ResponseApdu.parse(raw)
        return response.data, response.sw


__all__ = [
    "CARD_ATR",
    "SAM_ATR",
    "SIMULATED_MASTER_KEY",
    "CardFault",
    "DirectTransport",
    "FaultKind",
    "VirtualCard",
    "VirtualKtpelCard",
    "VirtualSam",
    "build_identity_file",
    "build_template_file",
    "card_for",
    "identity_values",
]
