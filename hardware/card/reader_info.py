"""The reader and its SAM as installed: PC/SC names, the reader's serial, the SAM's information.

A thin PC/SC adapter (pyscard) for the technician's tool: it connects to the SAM slot only (the
card slot is usually empty) and never touches an ID card. The reader's serial is read as
docs/ktpel-card-protocol.md ("Reader serial") says: the PC/SC attribute
SCARD_ATTR_VENDOR_IFD_SERIAL_NO, then the reader pseudo-APDU `FF 9A 01 05`, then a serial in
parentheses in the reader's name; None when the reader gives none. Everything runs on a thread
of its own so that a silent pcscd costs `timeout` seconds (CardTimeoutError), not forever.
"""

from __future__ import annotations

import contextlib
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from smartcard import scard

from hardware.card.apdu import SW
from hardware.card.pcsc import PcscTransport, _call, _establish, _resolve, _Worker
from hardware.card.sam_info import SamInfo, read_sam_info, serial_text
from hardware.errors import CardError, CardTimeoutError

READER_SERIAL_APDU = bytes.fromhex("FF9A010500")
_SERIAL_IN_NAME = re.compile(r"\(([A-Za-z0-9._:-]{1,32})\)(?: \d\d \d\d)?\Z")


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """What the reader and its SAM say about themselves."""

    card_reader: str  # the PC/SC name of the ID-card slot
    sam_reader: str  # the PC/SC name of the SAM slot
    serial: str | None  # the reader's serial, None when it gives none
    sam: SamInfo


def serial_from_name(name: str) -> str | None:
    """The serial pcsc-lite's CCID driver puts in a reader's name: `Model (SERIAL) 00 00`."""
    found = _SERIAL_IN_NAME.search(name)
    return found.group(1) if found else None


def read_reader_info(card_reader: str, sam_reader: str, *, timeout: float = 3.0) -> ReaderInfo:
    """Resolve both slots by name substring and read the reader's serial and the SAM's info.

    Raises NoReaderError (pcscd down, no such reader), SamMissingError (no SAM, or another card
    in its slot), MalformedCardDataError, CardTimeoutError, or CardError.
    """
    worker = _Worker()
    done: Future[ReaderInfo] = Future()

    def run() -> None:
        try:
            done.set_result(_read(worker, card_reader, sam_reader, timeout))
        except BaseException as err:
            done.set_exception(err)

    thread = threading.Thread(target=run, name="reader-info", daemon=True)
    thread.start()
    try:
        return done.result(timeout * 4)
    except TimeoutError:
        raise CardTimeoutError(f"PC/SC did not answer in {timeout * 4:g} s") from None
    finally:
        worker.stop()


def _read(worker: _Worker, card_reader: str, sam_reader: str, timeout: float) -> ReaderInfo:
    context = worker.call(_establish, timeout)
    handle: int | None = None
    try:
        card_name = worker.call(lambda: _resolve(context, card_reader, "card"), timeout)
        sam_name = worker.call(lambda: _resolve(context, sam_reader, "sam"), timeout)
        protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1

        def connect() -> tuple[int, int]:
            _, h, p = _call(
                "sam",
                "connect",
                scard.SCardConnect,
                context,
                sam_name,
                scard.SCARD_SHARE_SHARED,
                protocols,
            )
            return int(h), int(p)

        handle, protocol = worker.call(connect, timeout)
        sam = PcscTransport(worker, handle, protocol, "sam", timeout)
        bound = handle
        serial = worker.call(lambda: _attribute_serial(bound), timeout)
        if serial is None:
            serial = _pseudo_apdu_serial(sam)
        if serial is None:
            serial = serial_from_name(card_name)
        info = read_sam_info(sam)
        return ReaderInfo(card_name, sam_name, serial, info)
    except TimeoutError:
        raise CardTimeoutError(f"PC/SC did not answer in {timeout:g} s") from None
    finally:
        final = handle

        def close() -> None:
            with contextlib.suppress(scard.error):
                if final is not None:
                    scard.SCardDisconnect(final, scard.SCARD_RESET_CARD)
                scard.SCardReleaseContext(context)

        if worker.stuck:
            worker.post(close)  # runs once the stuck call returns
        else:
            with contextlib.suppress(TimeoutError):
                worker.call(close, timeout)


def _attribute_serial(handle: int) -> str | None:
    """SCARD_ATTR_VENDOR_IFD_SERIAL_NO, or None where the driver does not give it."""
    try:
        hresult, value = scard.SCardGetAttrib(handle, scard.SCARD_ATTR_VENDOR_IFD_SERIAL_NO)
    except scard.error:
        return None
    if hresult != scard.SCARD_S_SUCCESS or not value:
        return None
    raw = bytes(value).rstrip(b"\0")
    return serial_text(raw) if raw else None


def _pseudo_apdu_serial(sam: PcscTransport) -> str | None:
    """The reader's answer to `FF 9A 01 05` (the simulated reader's way), or None."""
    try:
        data, sw = sam.send_and_receive(READER_SERIAL_APDU)
    except CardError:
        return None
    if sw != SW.SUCCESS or not 1 <= len(data) <= 32:
        return None
    return serial_text(data)


__all__ = ["ReaderInfo", "read_reader_info", "serial_from_name"]
