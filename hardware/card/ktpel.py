"""The KTP-el card profile: how the chip and the SAM authenticate each other and how the identity
file and the two fingerprint templates are read. Pure code over two `ApduTransport`s.

The real KTP-el command set is confidential. This module implements the plausible ISO/IEC 7816-4
profile documented in docs/ktpel-card-protocol.md; a vendor's real profile replaces it by
implementing `CardProfile` and being passed to the reader (`PcscCardReader(profile=...)`).
"""

from __future__ import annotations

from typing import Protocol

from common.buffers import wipe
from hardware.card import tlv
from hardware.card.apdu import SW, ApduTransport, CommandApdu, exchange
from hardware.card.ktpel_crypto import (
    CRYPTOGRAM_SIZE,
    NONCE_SIZE,
    SecureChannel,
    SessionKeys,
)
from hardware.card.reader import CardContents, Finger, IdentityField
from hardware.card.sam_auth import HostKey, HostSession, authenticate_host, sam_refused
from hardware.errors import (
    CardError,
    CardNotAuthenticError,
    MalformedCardDataError,
    SamNotAuthorisedError,
)

Buffer = bytes | bytearray | memoryview

# --- Identifiers ------------------------------------------------------------------------------

RID = bytes.fromhex("D360000001")  # national RID: 'D', ISO 3166 numeric 360 (Indonesia), 00001
KTPEL_AID = RID + b"KTPEL"
SAM_AID = RID + b"KTPSAM"  # also in hardware.card.sam_auth

EF_IDENTITY = 0x0101
EF_TEMPLATE = {Finger.RIGHT_INDEX: 0x0102, Finger.LEFT_INDEX: 0x0103}
FINGER_POSITION = {Finger.RIGHT_INDEX: 2, Finger.LEFT_INDEX: 7}  # ISO/IEC 19794-2 codes

CLA = 0x00
CLA_PROPRIETARY = 0x80
INS_SELECT = 0xA4
INS_GET_CHALLENGE = 0x84
INS_MUTUAL_AUTHENTICATE = 0x82
INS_READ_BINARY = 0xB0
INS_SAM_INIT_AUTH = 0x8A  # SAM: serial || RND.IC -> host cryptogram
INS_SAM_VERIFY_CARD = 0x8C  # SAM: card cryptogram -> session keys

SELECT_BY_AID = 0x04
SELECT_EF_UNDER_DF = 0x02
SELECT_RETURN_FCI = 0x00
SELECT_RETURN_FCP = 0x04
SELECT_NO_DATA = 0x0C

TAG_FCI = 0x6F
TAG_DF_NAME = 0x84
TAG_FCI_PROPRIETARY = 0xA5
TAG_CHIP_SERIAL = 0xC0
TAG_PROFILE_VERSION = 0xC1
TAG_FCP = 0x62
TAG_FILE_SIZE = 0x80
TAG_FILE_ID = 0x83

TAG_IDENTITY = 0x7F70
IDENTITY_TAGS: dict[IdentityField, int] = {
    field: 0x80 + i for i, field in enumerate(IdentityField)
}  # 80 NIK ... 91 VALID_UNTIL, in the order of IdentityField
TAG_BIOMETRIC = 0x7F60
TAG_FINGER_POSITION = 0x83
TAG_TEMPLATE = 0x5F2E

SERIAL_SIZE = 8
TEMPLATE_SIZE = 512
MAX_FILE_SIZE = 4096
READ_CHUNK = 0xDF  # 223: the largest plaintext whose protected response fits a short Le

_FIELD_BY_TAG = {tag: field for field, tag in IDENTITY_TAGS.items()}


class CardProfile(Protocol):
    """One kind of ID card: how it is authenticated with its SAM and read.

    `read` receives two open connections, one to the ID card and one to the SAM, and returns
    the card's contents. It raises CardError subclasses only: CardNotAuthenticError when the
    card fails authentication, SamMissingError/SamNotAuthorisedError for SAM problems,
    MalformedCardDataError for data that breaks the profile, and whatever the transports raise
    (CardRemovedError, CardTimeoutError, ...). It wipes every intermediate buffer that held keys
    or personal data, on success and on failure.
    """

    @property
    def name(self) -> str:
        """A short name for logs (no personal data)."""
        ...

    def read(self, card: ApduTransport, sam: ApduTransport) -> CardContents:
        """Authenticate card and SAM to each other, then read identity and templates."""
        ...


# --- Parsers of card data (untrusted input: MalformedCardDataError only) ------------------------


def parse_fci(data: Buffer) -> bytes:
    """The chip serial from the application's FCI (6F { 84 AID, A5 { C0 serial } })."""
    fci = tlv.parse_single(data)
    if fci.tag != TAG_FCI:
        raise MalformedCardDataError("application FCI is not a 6F template")
    items = tlv.index_unique(fci.children())
    if bytes(tlv.require(items, TAG_DF_NAME).value) != KTPEL_AID:
        raise MalformedCardDataError("FCI names another application")
    proprietary = tlv.index_unique(tlv.require(items, TAG_FCI_PROPRIETARY).children())
    serial = bytes(tlv.require(proprietary, TAG_CHIP_SERIAL).value)
    if len(serial) != SERIAL_SIZE:
        raise MalformedCardDataError("chip serial has the wrong length")
    return serial


def parse_fcp_size(data: Buffer) -> int:
    """The file size from an EF's FCP (62 { 80 size ... })."""
    fcp = tlv.parse_single(data)
    if fcp.tag != TAG_FCP:
        raise MalformedCardDataError("file control parameters are not a 62 template")
    size_obj = tlv.require(tlv.index_unique(fcp.children()), TAG_FILE_SIZE)
    if not 1 <= len(size_obj.value) <= 2:
        raise MalformedCardDataError("file size field has the wrong length")
    size = int.from_bytes(size_obj.value, "big")
    if not 1 <= size <= MAX_FILE_SIZE:
        raise MalformedCardDataError("declared file size out of range")
    return size


def is_utf8(data: Buffer) -> bool:
    """Strict UTF-8 check (no overlongs, surrogates or values past U+10FFFF) without decoding."""
    view = memoryview(data)
    i, n = 0, len(view)
    while i < n:
        b = view[i]
        if b < 0x80:
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif b == 0xE0:
            need, lo, hi = 2, 0xA0, 0xBF
        elif 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
            need, lo, hi = 2, 0x80, 0xBF
        elif b == 0xED:
            need, lo, hi = 2, 0x80, 0x9F
        elif b == 0xF0:
            need, lo, hi = 3, 0x90, 0xBF
        elif 0xF1 <= b <= 0xF3:
            need, lo, hi = 3, 0x80, 0xBF
        elif b == 0xF4:
            need, lo, hi = 3, 0x80, 0x8F
        else:
            return False
        if i + need >= n or not lo <= view[i + 1] <= hi:
            return False
        if any(not 0x80 <= view[i + k] <= 0xBF for k in range(2, need + 1)):
            return False
        i += need + 1
    return True


def parse_identity(data: Buffer) -> dict[IdentityField, bytearray]:
    """The identity file (7F70 { 80 NIK, 81 KK, ... }) as UTF-8 bytearrays, one per field."""
    fields: dict[IdentityField, bytearray] = {}
    try:
        outer = tlv.parse_single(data)
        if outer.tag != TAG_IDENTITY:
            raise MalformedCardDataError("identity file is not a 7F70 template")
        for obj in outer.children():
            field = _FIELD_BY_TAG.get(obj.tag)
            if field is None:
                continue  # a later profile version may add fields
            if field in fields:
                raise MalformedCardDataError(f"identity field {field.value} occurs twice")
            if not is_utf8(obj.value):
                raise MalformedCardDataError(f"identity field {field.value} is not UTF-8")
            fields[field] = bytearray(obj.value)
        missing = [f.value for f in IdentityField if f not in fields]
        if missing:
            raise MalformedCardDataError(f"identity file lacks {', '.join(missing)}")
    except BaseException:
        wipe(*fields.values())
        raise
    return fields


def parse_template(data: Buffer, finger: Finger) -> bytearray:
    """A template file (7F60 { 83 finger position, 5F2E 512-byte template }) as a bytearray."""
    outer = tlv.parse_single(data)
    if outer.tag != TAG_BIOMETRIC:
        raise MalformedCardDataError("template file is not a 7F60 template")
    items = tlv.index_unique(outer.children())
    position = tlv.require(items, TAG_FINGER_POSITION).value
    if len(position) != 1 or position[0] != FINGER_POSITION[finger]:
        raise MalformedCardDataError(f"template file holds another finger than {finger.value}")
    template = tlv.require(items, TAG_TEMPLATE).value
    if len(template) != TEMPLATE_SIZE:
        raise MalformedCardDataError(f"{finger.value} template is not {TEMPLATE_SIZE} bytes")
    return bytearray(template)


# --- The profile ------------------------------------------------------------------------------


def _card_refused(what: str, sw: int) -> CardError:
    if sw in (SW.AUTHENTICATION_FAILED, SW.SECURITY_STATUS_NOT_SATISFIED):
        return CardNotAuthenticError(f"card refused {what}", sw)
    return MalformedCardDataError(f"card answered {what} with an unexpected status", sw)


def _sam_refused(what: str, sw: int) -> CardError:
    return sam_refused(what, sw)


class KtpelProfile:
    """The simulated KTP-el profile v1 (docs/ktpel-card-protocol.md).

    `host_key` is the kiosk's SAM host key: the profile authenticates to the SAM with it before
    every card authentication. Without one, a bound SAM refuses (SamNotAuthorisedError, 6982).
    """

    def __init__(self, chunk_size: int = READ_CHUNK, *, host_key: HostKey | None = None) -> None:
        if not 1 <= chunk_size <= READ_CHUNK:
            raise ValueError(f"chunk_size must be 1..{READ_CHUNK}")
        self._chunk = chunk_size
        self._host_key = host_key

    @property
    def name(self) -> str:
        """Profile name for logs."""
        return "ktpel-sim-v1"

    def read(self, card: ApduTransport, sam: ApduTransport) -> CardContents:
        """Authenticate card and SAM to each other, then read identity and templates."""
        contents = CardContents()
        try:
            serial = self._select_application(card)
            self._select_sam(sam)
            host = authenticate_host(sam, self._host_key) if self._host_key else None
            try:
                keys = self._authenticate(card, sam, serial, host)
            finally:
                if host is not None:
                    host.wipe()
            channel = SecureChannel(keys)
            try:
                self._read_contents(card, channel, contents)
            finally:
                channel.wipe()
        except BaseException:
            contents.wipe()
            raise
        return contents

    def _select_application(self, card: ApduTransport) -> bytes:
        cmd = CommandApdu(CLA, INS_SELECT, SELECT_BY_AID, SELECT_RETURN_FCI, KTPEL_AID, ne=256)
        data, sw = exchange(card, cmd)
        if sw == SW.FILE_NOT_FOUND:
            raise MalformedCardDataError("not a KTP-el card (application not found)", sw)
        if sw != SW.SUCCESS:
            raise _card_refused("SELECT", sw)
        return parse_fci(data)

    def _select_sam(self, sam: ApduTransport) -> None:
        cmd = CommandApdu(CLA, INS_SELECT, SELECT_BY_AID, SELECT_NO_DATA, SAM_AID)
        _, sw = exchange(sam, cmd)
        if sw != SW.SUCCESS:
            raise _sam_refused("SELECT", sw)

    def _authenticate(
        self, card: ApduTransport, sam: ApduTransport, serial: bytes, host: HostSession | None
    ) -> SessionKeys:
        challenge = CommandApdu(CLA, INS_GET_CHALLENGE, 0x00, 0x00, ne=NONCE_SIZE)
        rnd_ic, sw = exchange(card, challenge)
        if sw != SW.SUCCESS:
            raise _card_refused("GET CHALLENGE", sw)
        if len(rnd_ic) != NONCE_SIZE:
            raise MalformedCardDataError("card challenge has the wrong length")

        init = CommandApdu(CLA_PROPRIETARY, INS_SAM_INIT_AUTH, 0, 0, serial + rnd_ic, ne=256)
        host_cryptogram, sw = exchange(sam, init)
        if sw != SW.SUCCESS:
            raise _sam_refused("to start authentication", sw)
        if len(host_cryptogram) != CRYPTOGRAM_SIZE:
            raise SamNotAuthorisedError("SAM cryptogram has the wrong length")

        mutual = CommandApdu(CLA, INS_MUTUAL_AUTHENTICATE, 0, 0, host_cryptogram, ne=256)
        card_cryptogram, sw = exchange(card, mutual)
        if sw != SW.SUCCESS:
            raise CardNotAuthenticError("card rejected mutual authentication", sw)
        if len(card_cryptogram) != CRYPTOGRAM_SIZE:
            raise CardNotAuthenticError("card cryptogram has the wrong length")

        verify = CommandApdu(CLA_PROPRIETARY, INS_SAM_VERIFY_CARD, 0, 0, card_cryptogram, ne=256)
        released, sw = exchange(sam, verify)
        if sw == SW.AUTHENTICATION_FAILED:
            raise CardNotAuthenticError("SAM found the card's cryptogram false", sw)
        if sw != SW.SUCCESS:
            raise _sam_refused("to verify the card", sw)
        if host is None:  # a SAM releases keys only to an authenticated kiosk
            raise SamNotAuthorisedError("SAM released keys to a kiosk that did not authenticate")
        return host.unwrap(released)

    def _read_contents(
        self, card: ApduTransport, channel: SecureChannel, contents: CardContents
    ) -> None:
        buf = self._read_file(card, channel, EF_IDENTITY)
        try:
            contents.identity = parse_identity(buf)
        finally:
            wipe(buf)
        for finger, fid in EF_TEMPLATE.items():
            buf = self._read_file(card, channel, fid)
            try:
                contents.templates[finger] = parse_template(buf, finger)
            finally:
                wipe(buf)

    def _read_file(self, card: ApduTransport, channel: SecureChannel, fid: int) -> bytearray:
        select = CommandApdu(
            CLA, INS_SELECT, SELECT_EF_UNDER_DF, SELECT_RETURN_FCP, fid.to_bytes(2, "big"), ne=256
        )
        fcp, sw = exchange(card, select)
        if sw != SW.SUCCESS:
            raise _card_refused("SELECT of a file", sw)
        size = parse_fcp_size(fcp)
        out = bytearray(size)  # allocated once: no stale copies left behind by resizing
        try:
            offset = 0
            while offset < size:
                want = min(self._chunk, size - offset)
                cmd = channel.protect_command(INS_READ_BINARY, offset >> 8, offset & 0xFF, want)
                data, sw = exchange(card, cmd)
                if not data and sw not in (SW.SUCCESS, SW.END_OF_FILE):
                    raise _card_refused("READ BINARY", sw)  # unprotected error status
                plain, sw = channel.unprotect_response(data, sw)
                try:
                    if len(plain) != want:
                        raise MalformedCardDataError("file shorter or longer than declared", sw)
                    if sw != SW.SUCCESS:
                        raise _card_refused("READ BINARY", sw)
                    out[offset : offset + want] = plain
                finally:
                    wipe(plain)
                offset += want
        except BaseException:
            wipe(out)
            raise
        return out
