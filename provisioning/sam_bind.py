"""Step 4 of kiosk-provision: bind the reader's SAM to this kiosk with a host key in its token.

`bind_sam(config, token)` makes the SAM host key (AES-128) in the kiosk's token (sensitive, not
extractable, CMAC only), sets it in the SAM (SET HOST KEY, accepted once by an unbound SAM),
wipes the value and proves one authentication through the token. It is safe to run again: a SAM
already bound to this token's key is proven and left as it is. `unbind_sam(config, token)`
releases the SAM (decommission) so that a fresh provisioning can bind it again.

Failures are `SamBindError`s naming the reader and what to do: the SAM missing, not activated,
bound to another kiosk (only its issuer can reset it), the token missing or full, pcscd away.
docs/ktpel-card-protocol.md ("Host binding") has the protocol.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from common.buffers import wipe
from common.errors import TokenError, TokenMissingError
from common.token import Token, TokenConfig
from common.token_secret import TokenAesKey, find_aes_key, has_aes_key, import_aes_key
from edge_agent.config import AgentConfig
from hardware.card import sam_auth
from hardware.card.apdu import SW, ApduTransport
from hardware.card.ktpel_crypto import KEY_SIZE
from hardware.card.pcsc import DEFAULT_SAM_READER, PcscCardReader
from hardware.errors import (
    CardError,
    NoReaderError,
    SamHostKeyRejectedError,
    SamMissingError,
    SamNotAuthorisedError,
    SamNotBoundError,
)
from provisioning.errors import SamBindError

_log = logging.getLogger(__name__)
T = TypeVar("T")


class SamAccess(Protocol):
    """A connection to the SAM alone (`hardware.card.pcsc.PcscCardReader.with_sam`)."""

    def with_sam(self, fn: Callable[[ApduTransport], T]) -> T:
        """Run `fn` over a connection to the SAM, then reset it."""
        ...


@dataclass(frozen=True, slots=True)
class SamBinding:
    """What the step did: which SAM reader, which key in which token, new or already there."""

    sam_reader: str
    token_label: str
    key_label: str
    newly_bound: bool

    def as_json(self) -> dict[str, object]:
        """The binding as a JSON object (no secrets: labels only)."""
        return {
            "sam_reader": self.sam_reader,
            "token_label": self.token_label,
            "key_label": self.key_label,
            "newly_bound": self.newly_bound,
        }


class SamMissing(SamBindError):
    """No SAM (or something else) in the reader's SAM slot."""


class SamNotActivated(SamBindError):
    """The SAM is not activated by Dukcapil."""


class SamBoundElsewhere(SamBindError):
    """The SAM is bound to another host key: its issuer must reset it."""


class SamTokenMissing(SamBindError):
    """The kiosk's token is missing or cannot hold the key."""


class PcscUnavailable(SamBindError):
    """pcscd or the SAM reader is not reachable."""


class SamRefused(SamBindError):
    """The SAM refused the binding for another reason."""


def _error(err: CardError, reader: str) -> SamBindError:
    """The provisioning error for a card error met while binding the SAM in `reader`."""
    if isinstance(err, NoReaderError):
        return PcscUnavailable(
            "PCSC_UNAVAILABLE",
            f"Pembaca SAM {reader!r} tidak terjangkau (pcscd): periksa layanan pcscd dan kabel "
            "pembaca, lalu ulangi langkah ini.",
            f"The SAM reader {reader!r} is not reachable through pcscd ({err}): check the pcscd "
            "service and the reader's cable, then run this step again.",
            retry=True,
        )
    if isinstance(err, SamMissingError):
        return SamMissing(
            "SAM_MISSING",
            f"Tidak ada SAM di slot SAM pembaca {reader!r}: pasang SAM yang diterbitkan untuk "
            "kios ini, lalu ulangi langkah ini.",
            f"No SAM in the SAM slot of reader {reader!r} ({err}): insert the SAM issued for "
            "this kiosk, then run this step again.",
        )
    if isinstance(err, SamHostKeyRejectedError):
        return SamBoundElsewhere(
            "SAM_BOUND_ELSEWHERE",
            f"SAM di pembaca {reader!r} sudah terikat ke kios lain: minta penerbit SAM "
            "(Dukcapil) mereset ikatannya, lalu ulangi langkah ini.",
            f"The SAM in reader {reader!r} is bound to another kiosk ({err}): ask the SAM's "
            "issuer (Dukcapil) to reset its binding, then run this step again.",
        )
    if isinstance(err, SamNotAuthorisedError) and err.sw == SW.FILE_DEACTIVATED:
        return SamNotActivated(
            "SAM_NOT_ACTIVATED",
            f"SAM di pembaca {reader!r} belum diaktifkan oleh Dukcapil: minta aktivasi SAM, "
            "lalu ulangi langkah ini.",
            f"The SAM in reader {reader!r} is not activated by Dukcapil: have it activated, "
            "then run this step again.",
        )
    return SamRefused(
        "SAM_REFUSED",
        f"SAM di pembaca {reader!r} menolak pengikatan: periksa SAM dan pembacanya.",
        f"The SAM in reader {reader!r} refused the binding ({err}): check the SAM and its reader.",
    )


def _token_error(err: TokenError) -> SamBindError:
    missing = isinstance(err, TokenMissingError)
    return SamTokenMissing(
        "TOKEN_MISSING" if missing else "TOKEN_FAILED",
        f"Token PKCS#11 kios {err.label!r} tidak dapat menyimpan kunci host SAM: periksa "
        "token (langkah preflight), lalu ulangi langkah ini.",
        f"The kiosk's PKCS#11 token cannot hold the SAM host key: {err}. Check the token "
        "(the preflight step), then run this step again.",
    )


def _prove(sam: ApduTransport, key: sam_auth.HostKey) -> None:
    sam_auth.select_sam(sam)
    sam_auth.authenticate_host(sam, key).wipe()


def _bind(sam: ApduTransport, token: Token, label: str) -> TokenAesKey:
    """Make the key in the token, set it in the SAM, wipe the value; the token's key."""
    sam_auth.select_sam(sam)
    value = bytearray(os.urandom(KEY_SIZE))
    try:
        key = import_aes_key(token, label, value)
        try:
            sam_auth.set_host_key(sam, value)
        except BaseException:
            token.destroy(label)
            raise
    finally:
        wipe(value)
    return key


def open_kiosk_token(config: AgentConfig) -> Token:
    """The kiosk's token of [identity], opened; SamTokenMissing if it is not configured or not
    there."""
    identity = config.identity
    if identity is None:
        raise SamTokenMissing(
            "TOKEN_MISSING",
            "agent.toml tidak memiliki bagian [identity]: token kios belum dikonfigurasi.",
            "agent.toml has no [identity] section: the kiosk's token is not configured; "
            "set token_module, token_label and pin_file there.",
        )
    try:
        return Token.open(
            TokenConfig(identity.token_module, identity.token_label, identity.pin_file)
        )
    except TokenError as err:
        raise _token_error(err) from err


def bind_sam(config: AgentConfig, token: Token, *, access: SamAccess | None = None) -> SamBinding:
    """Bind the SAM to this kiosk: host key made in `token`, set in the SAM, one authentication
    proven. Safe to run again. `access` replaces the PC/SC reader (tests)."""
    reader = config.reader.sam_reader or DEFAULT_SAM_READER
    label = config.reader.sam_host_key
    sam_access: SamAccess = access or PcscCardReader(
        config.reader.card_reader, config.reader.sam_reader
    )
    try:
        if has_aes_key(token, label):
            try:
                sam_access.with_sam(lambda sam: _prove(sam, find_aes_key(token, label)))
                _log.info("SAM in %r already bound to key %r of this kiosk", reader, label)
                return SamBinding(reader, token.config.label, label, newly_bound=False)
            except SamNotBoundError:  # a binding cut short, or a SAM reset by its issuer
                _log.info("SAM in %r is unbound; replacing the stale key %r", reader, label)
                token.destroy(label)
        key = sam_access.with_sam(lambda sam: _bind(sam, token, label))
        sam_access.with_sam(lambda sam: _prove(sam, key))
    except TokenError as err:
        raise _token_error(err) from err
    except CardError as err:
        raise _error(err, reader) from err
    _log.info("SAM in %r bound to this kiosk (key %r)", reader, label)
    return SamBinding(reader, token.config.label, label, newly_bound=True)


def unbind_sam(config: AgentConfig, token: Token, *, access: SamAccess | None = None) -> bool:
    """Release the SAM from this kiosk (decommission) and destroy the key; False if the SAM
    was not bound to this kiosk's key (nothing to release)."""
    reader = config.reader.sam_reader or DEFAULT_SAM_READER
    label = config.reader.sam_host_key
    sam_access: SamAccess = access or PcscCardReader(
        config.reader.card_reader, config.reader.sam_reader
    )
    try:
        if not has_aes_key(token, label):
            return False
        key = find_aes_key(token, label)

        def release(sam: ApduTransport) -> None:
            sam_auth.select_sam(sam)
            sam_auth.unbind(sam, key)

        try:
            sam_access.with_sam(release)
        except SamNotBoundError:
            token.destroy(label)
            return False
        token.destroy(label)
    except TokenError as err:
        raise _token_error(err) from err
    except CardError as err:
        raise _error(err, reader) from err
    _log.info("SAM in %r released by this kiosk; key %r destroyed", reader, label)
    return True
