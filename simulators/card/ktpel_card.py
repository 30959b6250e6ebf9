"""A virtual KTP-el chip: the card side of the profile in docs/ktpel-card-protocol.md."""

from __future__ import annotations

import os
import time

from hardware.card import ktpel, tlv
from hardware.card.apdu import SW, CommandApdu
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
from hardware.errors import CardNotAuthenticError, MalformedCardDataError
from simulators.card.faults import CardFault, FaultKind
from simulators.card.iso7816 import VolatileChip, answer, make_atr
from simulators.card.personalisation import fcp, personalise, serial_for
from simulators.card.sam import SIMULATED_MASTER_KEY
from simulators.personas import Persona, persona
from simulators.vpcd import CardVanished

FORGER_MASTER_KEY = bytes.fromhex("464f524745522d4e4f542d444b43504c")
"""The key a forger's clone uses instead ("FORGER-NOT-DKCPL")."""

CARD_ATR = make_atr(b"\x80\x56KTPEL1")


class VirtualKtpelCard(VolatileChip):
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
        self.serial = serial_for(who.key)
        self.apdu_count = 0
        card_key = diversify(
            FORGER_MASTER_KEY if self._cloned else master_key, self.serial, ktpel.KTPEL_AID
        )
        self._auth = AuthKeys.from_card_key(card_key)
        self._files = personalise(who, fault)
        self._app_selected = False
        self._current: int | None = None
        self._challenge: bytes | None = None
        self._session: SecureChannel | None = None

    @property
    def _cloned(self) -> bool:
        return self.fault is not None and self.fault.kind is FaultKind.CLONED

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
            return answer(b"", SW.WRONG_LENGTH)
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
            return answer(b"", SW.CLA_NOT_SUPPORTED)
        return answer(b"", SW.INS_NOT_SUPPORTED)

    def _select(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 == ktpel.SELECT_BY_AID:
            if cmd.data != ktpel.KTPEL_AID:
                return answer(b"", SW.FILE_NOT_FOUND)
            self._clear()
            self._app_selected = True
            if cmd.p2 == ktpel.SELECT_NO_DATA:
                return answer(b"", SW.SUCCESS)
            return answer(self._fci(), SW.SUCCESS)
        if cmd.p1 == ktpel.SELECT_EF_UNDER_DF:
            fid = int.from_bytes(cmd.data, "big") if len(cmd.data) == 2 else -1
            if not self._app_selected or fid not in self._files:
                return answer(b"", SW.FILE_NOT_FOUND)
            self._current = fid
            if cmd.p2 == ktpel.SELECT_NO_DATA:
                return answer(b"", SW.SUCCESS)
            return answer(fcp(fid, self._files[fid].declared_size), SW.SUCCESS)
        return answer(b"", SW.INCORRECT_P1_P2)

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
            return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
        if cmd.ne != NONCE_SIZE:
            return answer(b"", SW.WRONG_LENGTH)
        self._drop_session()
        self._challenge = os.urandom(NONCE_SIZE)
        return answer(self._challenge, SW.SUCCESS)

    def _mutual_authenticate(self, cmd: CommandApdu) -> bytes:
        challenge, self._challenge = self._challenge, None
        if challenge is None:
            return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
        if len(cmd.data) != CRYPTOGRAM_SIZE:
            return answer(b"", SW.WRONG_LENGTH)
        try:
            rnd_host, echoed, seed_host = open_cryptogram(self._auth, cmd.data)
        except CardNotAuthenticError:
            if not self._cloned:
                return answer(b"", SW.AUTHENTICATION_FAILED)
            # A clone cannot check the host: it answers anyway, under its own (wrong) key.
            rnd_host, echoed, seed_host = os.urandom(8), challenge, bytearray(SEED_SIZE)
        if echoed != challenge:
            return answer(b"", SW.AUTHENTICATION_FAILED)
        seed_card = os.urandom(SEED_SIZE)
        cryptogram = make_cryptogram(self._auth, challenge, rnd_host, seed_card)
        keys = SessionKeys.derive(seed_host, seed_card, challenge, rnd_host)
        self._session = SecureChannel(keys)
        return answer(cryptogram, SW.SUCCESS)

    def _read_binary(self, cmd: CommandApdu) -> bytes:
        session = self._session
        if cmd.cla != 0x0C or session is None:
            return answer(b"", SW.SECURITY_STATUS_NOT_SATISFIED)
        try:
            ne = session.unprotect_command(cmd)
        except MalformedCardDataError:
            self._drop_session()
            return answer(b"", SW.SM_DATA_OBJECTS_INCORRECT)
        if self._current is None:
            return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
        if cmd.p1 & 0x80:
            return answer(b"", SW.INCORRECT_P1_P2)  # short EF identifiers are not supported
        content = self._files[self._current].content
        offset = (cmd.p1 << 8) | cmd.p2
        if offset >= len(content):
            return answer(session.protect_response(b"", SW.WRONG_P1_P2), SW.WRONG_P1_P2)
        chunk = content[offset : offset + ne]
        sw = SW.SUCCESS if len(chunk) == ne else SW.END_OF_FILE
        return answer(session.protect_response(chunk, sw), sw)

    def __repr__(self) -> str:
        return f"VirtualKtpelCard({self.persona_key!r}, fault={self.fault})"


def card_for(persona_key: str, fault: CardFault | str | None = None) -> VirtualKtpelCard:
    """The virtual card of a persona (by key), with an optional fault (object or text form)."""
    if isinstance(fault, str):
        fault = CardFault.parse(fault)
    return VirtualKtpelCard(persona(persona_key), fault)
