"""The SAM side of its binding to one kiosk: the host key it keeps, the host's authentication.

State machine (docs/ktpel-card-protocol.md, "Host binding"): an unbound SAM accepts SET HOST KEY
once (activated SAMs only) and refuses card work with 6A88; a bound SAM answers GET CHALLENGE,
then AUTHENTICATE HOST with the key's proof; that authentication allows one INIT AUTHENTICATION
and VERIFY CARD (whose session keys leave wrapped under it) and is forgotten at VERIFY CARD,
SELECT, reset and power-off. The host key survives power like a real SAM's EEPROM: the simulator
keeps it in `state_file` (JSON, mode 0600, replaced atomically). UNBIND by the host (after its
authentication, with C.U) or by the issuer (C.I under the issuer's key) returns it to unbound.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from pathlib import Path

from common.buffers import wipe
from hardware.card import sam_auth
from hardware.card.apdu import SW, ApduTransport, CommandApdu, exchange
from hardware.card.ktpel_crypto import KEY_SIZE, kdf
from simulators.card.iso7816 import answer

_log = logging.getLogger(__name__)

SIMULATED_ISSUER_KEY = bytes.fromhex("53494d2d4b5450454c2d495353554552")
"""The simulated issuer's (Dukcapil's) SAM reset key ("SIM-KTPEL-ISSUER"); a real one is
diversified per SAM and never leaves the issuer."""


class SamStateError(RuntimeError):
    """The simulated SAM's state file is unreadable (the device's memory is corrupt)."""


class HostBinding:
    """The host key a SAM keeps (persistent) and the host's authentication (volatile)."""

    def __init__(
        self,
        state_file: Path | None = None,
        *,
        host_key: bytes | None = None,
        issuer_key: bytes = SIMULATED_ISSUER_KEY,
    ) -> None:
        self._file = state_file
        self._issuer_key = bytearray(issuer_key)
        self._key: bytearray | None = None
        if state_file is not None and state_file.exists():
            self._key = _load(state_file)
        elif host_key is not None:
            self._store(bytearray(host_key))
        self._challenge: bytes | None = None
        self._wrap: tuple[bytearray, bytearray] | None = None  # (K_W_enc, K_W_mac) when authed
        self._context = b""  # RND.S || RND.H of that authentication

    @property
    def bound(self) -> bool:
        """Whether a host key is set."""
        return self._key is not None

    @property
    def authenticated(self) -> bool:
        """Whether the host has authenticated since the last release, SELECT or reset."""
        return self._wrap is not None

    def forget(self) -> None:
        """Drop the volatile state (challenge, authentication)."""
        self._challenge = None
        self._context = b""
        if self._wrap is not None:
            wipe(*self._wrap)
        self._wrap = None

    def handles(self, ins: int) -> bool:
        """Whether `ins` is one of the binding's commands."""
        return ins in (
            sam_auth.INS_GET_CHALLENGE,
            sam_auth.INS_AUTHENTICATE_HOST,
            sam_auth.INS_SET_HOST_KEY,
            sam_auth.INS_UNBIND,
        )

    def process(self, cmd: CommandApdu) -> bytes:
        """Answer one binding command (the SAM is selected and activated)."""
        if cmd.ins == sam_auth.INS_GET_CHALLENGE:
            self.forget()
            self._challenge = os.urandom(sam_auth.NONCE_SIZE)
            return answer(self._challenge, SW.SUCCESS)
        if cmd.ins == sam_auth.INS_AUTHENTICATE_HOST:
            return self._authenticate(cmd.data)
        if cmd.ins == sam_auth.INS_SET_HOST_KEY:
            return self._set_key(cmd.data)
        return self._unbind(cmd.p1, cmd.data)

    def card_work_refused(self) -> int | None:
        """The status word refusing INIT AUTHENTICATION now, or None if it may go ahead."""
        if self._key is None:
            return SW.REFERENCED_DATA_NOT_FOUND
        if self._wrap is None:
            return SW.SECURITY_STATUS_NOT_SATISFIED
        return None

    def release(self, session_keys: bytes) -> bytes:
        """The card's session keys wrapped under this authentication, which ends here."""
        assert self._wrap is not None
        wrapped = sam_auth.wrap_session_keys(*self._wrap, session_keys)
        self.forget()
        return wrapped

    # --- commands -----------------------------------------------------------------------------

    def _authenticate(self, data: bytes) -> bytes:
        challenge, self._challenge = self._challenge, None
        if self._key is None:
            return answer(b"", SW.REFERENCED_DATA_NOT_FOUND)
        if challenge is None:
            return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
        if len(data) != 2 * sam_auth.NONCE_SIZE:
            return answer(b"", SW.WRONG_LENGTH)
        rnd_h, proof = data[: sam_auth.NONCE_SIZE], data[sam_auth.NONCE_SIZE :]
        context = challenge + rnd_h
        if not hmac.compare_digest(kdf(self._key, sam_auth.LABEL_HOST, context), proof):
            return answer(b"", SW.AUTHENTICATION_FAILED)
        self._wrap = (
            kdf(self._key, sam_auth.LABEL_WRAP_ENC, context),
            kdf(self._key, sam_auth.LABEL_WRAP_MAC, context),
        )
        self._context = context
        return answer(bytes(kdf(self._key, sam_auth.LABEL_SAM, context)), SW.SUCCESS)

    def _set_key(self, data: bytes) -> bytes:
        self.forget()
        if self._key is not None:
            return answer(b"", SW.COMMAND_NOT_ALLOWED)
        if len(data) != KEY_SIZE + sam_auth.KCV_SIZE:
            return answer(b"", SW.WRONG_LENGTH)
        value, kcv = bytearray(data[:KEY_SIZE]), data[KEY_SIZE:]
        if not hmac.compare_digest(sam_auth.key_check_value(value), kcv):
            wipe(value)
            return answer(b"", SW.WRONG_DATA)
        self._store(value)
        _log.info("simulated SAM bound to a host key")
        return answer(b"", SW.SUCCESS)

    def _unbind(self, p1: int, data: bytes) -> bytes:
        challenge, authed = self._challenge, self._wrap is not None
        context = self._context
        self.forget()
        if p1 == sam_auth.UNBIND_BY_HOST:
            if self._key is None or not authed:
                return answer(b"", SW.SECURITY_STATUS_NOT_SATISFIED)
            expected = kdf(self._key, sam_auth.LABEL_UNBIND, context)
        elif p1 == sam_auth.UNBIND_BY_ISSUER:
            if challenge is None:
                return answer(b"", SW.CONDITIONS_NOT_SATISFIED)
            expected = kdf(self._issuer_key, sam_auth.LABEL_ISSUER_RESET, challenge)
        else:
            return answer(b"", SW.INCORRECT_P1_P2)
        if not hmac.compare_digest(expected, data):
            return answer(b"", SW.AUTHENTICATION_FAILED)
        self._store(None)
        by = "host" if p1 == sam_auth.UNBIND_BY_HOST else "issuer"
        _log.info("simulated SAM unbound (by its %s)", by)
        return answer(b"", SW.SUCCESS)

    # --- persistence --------------------------------------------------------------------------

    def _store(self, key: bytearray | None) -> None:
        if self._key is not None:
            wipe(self._key)
        self._key = key
        if self._file is None:
            return
        state = {"version": 1, "host_key": key.hex() if key is not None else None}
        tmp = self._file.with_name(self._file.name + ".tmp")
        self._file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._file)


def _load(path: Path) -> bytearray | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        value = state["host_key"]
        if value is None:
            return None
        key = bytearray.fromhex(value)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SamStateError(f"the simulated SAM's state file {path} is unreadable: {err}") from err
    if len(key) != KEY_SIZE:
        raise SamStateError(f"the simulated SAM's state file {path} holds a key of a wrong size")
    return key


def issuer_proof(challenge: bytes, issuer_key: bytes = SIMULATED_ISSUER_KEY) -> bytes:
    """C.I: the issuer's answer to a SAM's challenge for UNBIND (issuer reset)."""
    return bytes(kdf(issuer_key, sam_auth.LABEL_ISSUER_RESET, challenge))


def issuer_reset(sam: ApduTransport, issuer_key: bytes = SIMULATED_ISSUER_KEY) -> None:
    """The issuer's reset of a SAM's binding (UNBIND P1 01 with C.I); SamNotAuthorisedError if
    the SAM refuses."""
    sam_auth.select_sam(sam)
    challenge = sam_auth.get_challenge(sam)
    cmd = CommandApdu(
        sam_auth.CLA_PROPRIETARY,
        sam_auth.INS_UNBIND,
        sam_auth.UNBIND_BY_ISSUER,
        0,
        issuer_proof(challenge, issuer_key),
    )
    _, sw = exchange(sam, cmd)
    if sw != SW.SUCCESS:
        raise sam_auth.sam_refused("the issuer's reset", sw)
