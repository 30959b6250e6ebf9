"""A virtual SAM: the reader's secure module that holds the master key and authenticates cards.

The master key below is a made-up simulation value; real SAMs hold theirs in hardware.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common.buffers import wipe
from hardware.card import ktpel, sam_info, tlv
from hardware.card.apdu import SW, CommandApdu
from hardware.card.ktpel_crypto import (
    NONCE_SIZE,
    SEED_SIZE,
    AuthKeys,
    SessionKeys,
    diversify,
    make_cryptogram,
    open_cryptogram,
)
from hardware.errors import CardNotAuthenticError, MalformedCardDataError
from simulators.card.iso7816 import VolatileChip, answer, make_atr
from simulators.card.sam_binding import SIMULATED_ISSUER_KEY, HostBinding

SIMULATED_MASTER_KEY = bytes.fromhex("5349_4d2d_4b54_5045_4c2d_4d41_5354_4552".replace("_", ""))
"""The simulated Dukcapil master key ("SIM-KTPEL-MASTER"); only virtual SAMs hold it."""

SAM_ATR = make_atr(b"\x80\x56KTPSAM")
DEFAULT_SAM_SERIAL = b"SAM-SIM-0001"
"""The serial a virtual SAM reports unless given another (kiosk_sim's SAM_ID)."""


@dataclass(eq=False, repr=False)
class _Pending:
    auth: AuthKeys
    rnd_card: bytes
    rnd_host: bytes
    seed_host: bytearray


class VirtualSam(VolatileChip):
    """The reader's SAM: holds the master key, runs the host side of mutual authentication.

    `activated` is False until Dukcapil activates the SAM; a deactivated SAM answers SELECT with
    6283 and refuses to authenticate with 6985. The attribute may be changed at any time.

    The SAM works for the one kiosk it is bound to (`binding`, simulators.card.sam_binding):
    `host_key` binds a new SAM at once (tests), `state_file` keeps the binding across restarts
    as a real SAM keeps it in its EEPROM (then `host_key` only seeds a SAM without a state file).
    """

    atr = SAM_ATR

    def __init__(
        self,
        activated: bool = True,
        *,
        master_key: bytes = SIMULATED_MASTER_KEY,
        serial: bytes = DEFAULT_SAM_SERIAL,
        host_key: bytes | None = None,
        state_file: Path | None = None,
        issuer_key: bytes = SIMULATED_ISSUER_KEY,
    ) -> None:
        self.activated = activated
        self.serial = serial
        self.apdu_count = 0
        self._master = bytearray(master_key)
        self._selected = False
        self._pending: _Pending | None = None
        self.binding = HostBinding(state_file, host_key=host_key, issuer_key=issuer_key)

    def _clear(self) -> None:
        self._selected = False
        self._forget()
        self.binding.forget()

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
            return answer(b"", SW.WRONG_LENGTH)
        if cmd.cla == ktpel.CLA and cmd.ins == ktpel.INS_SELECT and cmd.p1 == ktpel.SELECT_BY_AID:
            if cmd.data != ktpel.SAM_AID:
                return answer(b"", SW.FILE_NOT_FOUND)
            self._clear()
            self._selected = True
            return answer(b"", SW.SUCCESS if self.activated else SW.FILE_DEACTIVATED)
        if cmd.cla != ktpel.CLA_PROPRIETARY:
            return answer(b"", SW.CLA_NOT_SUPPORTED)
        if cmd.ins == sam_info.INS_GET_DATA:
            return self._get_data(cmd)
        binding = self.binding.handles(cmd.ins)
        if not binding and cmd.ins not in (ktpel.INS_SAM_INIT_AUTH, ktpel.INS_SAM_VERIFY_CARD):
            return answer(b"", SW.INS_NOT_SUPPORTED)
        if not self._selected or not self.activated:
            return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
        if binding:
            return self.binding.process(cmd)
        if cmd.ins == ktpel.INS_SAM_INIT_AUTH:
            refused = self.binding.card_work_refused()
            if refused is not None:
                return answer(b"", refused)
            return self._init_auth(cmd)
        return self._verify_card(cmd)

    def _get_data(self, cmd: CommandApdu) -> bytes:
        """GET DATA of the SAM information: serial and state, before any authentication."""
        if not self._selected:
            return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
        if (cmd.p1 << 8) | cmd.p2 != sam_info.P1P2_SAM_INFO:
            return answer(b"", SW.REFERENCED_DATA_NOT_FOUND)
        state = sam_info.STATE_ACTIVATED if self.activated else sam_info.STATE_NOT_ACTIVATED
        info = tlv.build_constructed(
            sam_info.TAG_SAM_INFO,
            (
                tlv.build(sam_info.TAG_SAM_SERIAL, self.serial),
                tlv.build(sam_info.TAG_SAM_STATE, bytes((state,))),
            ),
        )
        return answer(info, SW.SUCCESS)

    def _init_auth(self, cmd: CommandApdu) -> bytes:
        self._forget()
        if len(cmd.data) != ktpel.SERIAL_SIZE + NONCE_SIZE:
            return answer(b"", SW.WRONG_LENGTH)
        serial, rnd_card = cmd.data[: ktpel.SERIAL_SIZE], cmd.data[ktpel.SERIAL_SIZE :]
        card_key = diversify(self._master, serial, ktpel.KTPEL_AID)
        auth = AuthKeys.from_card_key(card_key)
        wipe(card_key)
        pending = _Pending(auth, rnd_card, os.urandom(NONCE_SIZE), bytearray(os.urandom(SEED_SIZE)))
        self._pending = pending
        cryptogram = make_cryptogram(auth, pending.rnd_host, rnd_card, pending.seed_host)
        return answer(cryptogram, SW.SUCCESS)

    def _verify_card(self, cmd: CommandApdu) -> bytes:
        pending, self._pending = self._pending, None
        refused = self.binding.card_work_refused()
        if refused is not None:
            if pending is not None:
                pending.auth.wipe()
            return answer(b"", refused)
        if pending is None:
            self.binding.forget()
            return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
        try:
            rnd_card, rnd_host, seed_card = open_cryptogram(pending.auth, cmd.data)
        except CardNotAuthenticError:
            self.binding.forget()
            return answer(b"", SW.AUTHENTICATION_FAILED)
        finally:
            pending.auth.wipe()
        if rnd_card != pending.rnd_card or rnd_host != pending.rnd_host:
            self.binding.forget()
            return answer(b"", SW.AUTHENTICATION_FAILED)
        keys = SessionKeys.derive(pending.seed_host, seed_card, rnd_card, rnd_host)
        block = keys.to_bytes()
        keys.wipe()
        released = self.binding.release(bytes(block))  # wrapped under the host's authentication
        wipe(block)
        return answer(released, SW.SUCCESS)

    def __repr__(self) -> str:
        return f"VirtualSam(activated={self.activated}, bound={self.binding.bound})"
