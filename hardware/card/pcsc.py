"""PC/SC adapter (pyscard): a KTP-el reader with its ID-card slot and its SAM slot.

Thin on purpose: it opens connections, moves APDUs and translates PC/SC results into the
hardware error tree; the card profile (hardware.card.ktpel, or a vendor's) does the protocol. Every
PC/SC call runs on one I/O thread so that a card that stops answering costs the caller
`apdu_timeout` seconds (CardTimeoutError), not forever; the stuck call is abandoned to finish on
its own. APDUs are logged only at the TRAFFIC level.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Literal, TypeVar

from smartcard import scard

from hardware import TRAFFIC, traffic_enabled
from hardware.card.apdu import ApduTransport, ResponseApdu
from hardware.card.ktpel import CardProfile, KtpelProfile
from hardware.card.reader import CardContents, CardEvent, CardEventKind
from hardware.errors import (
    CardError,
    CardRemovedError,
    CardTimeoutError,
    NoCardError,
    NoReaderError,
    SamMissingError,
)

_log = logging.getLogger(__name__)

DEFAULT_CARD_READER = "Virtual PCD 00 00"
"""Substring of the ID-card reader's name used when none is given (vpcd's first slot)."""
DEFAULT_SAM_READER = "Virtual PCD 00 01"
"""Substring of the SAM reader's name used when none is given (vpcd's second slot)."""

Slot = Literal["card", "sam"]
T = TypeVar("T")

_MONITOR_POLL_MS = 500
_SUCCESS = scard.SCARD_S_SUCCESS
_NO_READER = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE,
}
_NO_CARD = {scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNPOWERED_CARD}
_LOST_CARD = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_E_NOT_TRANSACTED,
    scard.SCARD_E_COMM_DATA_LOST,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_E_INVALID_HANDLE,
}
_TIMEOUT = {scard.SCARD_E_TIMEOUT, scard.SCARD_E_SHARING_VIOLATION}


def _message(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"


def translate(hresult: int, slot: Slot, action: str) -> CardError:
    """The hardware error for a failed PC/SC call on the card or the SAM slot."""
    what = f"{action}: {_message(hresult)}"
    if hresult in _NO_READER:
        return NoReaderError(f"{slot} reader unavailable, {what}")
    if hresult in _NO_CARD:
        return SamMissingError(f"no SAM, {what}") if slot == "sam" else NoCardError(what)
    if hresult in _LOST_CARD:
        if slot == "sam":
            return SamMissingError(f"SAM lost, {what}")
        return CardRemovedError(f"card lost, {what}")
    if hresult in _TIMEOUT:
        return CardTimeoutError(f"{slot} busy or silent, {what}")
    return CardError(f"{slot} PC/SC failure, {what}")


def _call(slot: Slot, action: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a pyscard call; translate its exceptions and failing result codes."""
    try:
        result = fn(*args)
    except scard.error as err:
        raise CardError(f"{slot} PC/SC failure, {action}") from err
    hresult = result[0] if isinstance(result, list | tuple) else result
    if hresult != _SUCCESS:
        raise translate(hresult, slot, action)
    return result


def _establish() -> int:
    _, context = _call(
        "card", "establish context", scard.SCardEstablishContext, scard.SCARD_SCOPE_USER
    )
    return int(context)


def _resolve(context: int, wanted: str, slot: Slot) -> str:
    _, names = _call(slot, "list readers", scard.SCardListReaders, context, [])
    for name in names:
        if wanted.casefold() in name.casefold():
            return str(name)
    raise NoReaderError(f"no {slot} reader matching {wanted!r} (readers: {', '.join(names)})")


class _Worker:
    """The thread that makes PC/SC calls. A stuck worker is abandoned and replaced."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self.stuck = False
        threading.Thread(target=self._run, name="pcsc-io", daemon=True).start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as err:
                    future.set_exception(err)

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """Run `fn` on the worker; TimeoutError (and the worker marked stuck) after `timeout`."""
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout)
        except TimeoutError:
            self.stuck = True
            raise

    def post(self, fn: Callable[[], object]) -> None:
        """Queue `fn` without waiting for it."""
        self._jobs.put((fn, Future()))

    def stop(self) -> None:
        """End the thread once the queued calls are done."""
        self._jobs.put(None)


class PcscTransport:
    """An `ApduTransport` over one PC/SC card handle."""

    def __init__(
        self, worker: _Worker, handle: int, protocol: int, slot: Slot, timeout: float
    ) -> None:
        self._worker = worker
        self._handle = handle
        self._protocol = protocol
        self._slot: Slot = slot
        self._timeout = timeout

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        """Transmit one APDU; (response data, status word)."""
        if traffic_enabled(_log):
            _log.log(TRAFFIC, "%s > %s", self._slot, apdu.hex())
        command = list(apdu)

        def transmit() -> Any:
            return _call(
                self._slot, "transmit", scard.SCardTransmit, self._handle, self._protocol, command
            )

        try:
            _, raw = self._worker.call(transmit, self._timeout)
        except TimeoutError:
            raise CardTimeoutError(f"{self._slot} did not answer in {self._timeout:g} s") from None
        if not raw:  # vpcd (and some readers) report a lost card as an empty "success"
            raise translate(scard.SCARD_W_REMOVED_CARD, self._slot, "transmit got no answer")
        response = ResponseApdu.parse(raw)
        if traffic_enabled(_log):
            _log.log(TRAFFIC, "%s < %s %04X", self._slot, response.data.hex(), response.sw)
        return response.data, response.sw


class _Session:
    """One read: a PC/SC context and handles on the card and the SAM."""

    def __init__(self) -> None:
        self.context: int | None = None
        self.handles: list[int] = []

    def open(self, readers: list[tuple[str, Slot]]) -> list[tuple[int, int]]:
        self.context = _establish()
        return [self._connect(wanted, slot) for wanted, slot in readers]

    def _connect(self, wanted: str, slot: Slot) -> tuple[int, int]:
        assert self.context is not None
        name = _resolve(self.context, wanted, slot)
        protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        share = scard.SCARD_SHARE_SHARED
        _, handle, protocol = _call(
            slot, "connect", scard.SCardConnect, self.context, name, share, protocols
        )
        self.handles.append(handle)
        return handle, protocol

    def close(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(scard.error):  # a card that is gone needs no reset
                scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
        self.handles.clear()
        if self.context is not None:
            with contextlib.suppress(scard.error):
                scard.SCardReleaseContext(self.context)
            self.context = None


class PcscCardReader:
    """A KTP-el reader through PC/SC: `card_reader` and `sam_reader` are name substrings."""

    def __init__(
        self,
        card_reader: str | None = None,
        sam_reader: str | None = None,
        profile: CardProfile | None = None,
        *,
        apdu_timeout: float = 3.0,
    ) -> None:
        self.card_reader = card_reader or DEFAULT_CARD_READER
        self.sam_reader = sam_reader or DEFAULT_SAM_READER
        self.profile: CardProfile = profile if profile is not None else KtpelProfile()
        self.apdu_timeout = apdu_timeout
        self._read_lock = threading.Lock()
        self._worker: _Worker | None = None
        self._monitor: _Monitor | None = None

    def read(self) -> CardContents:
        """Authenticate card and SAM to each other, then read identity and templates."""
        return self._in_session(("card", "sam"), lambda t: self.profile.read(t[0], t[1]))

    def with_sam(self, fn: Callable[[ApduTransport], T]) -> T:
        """Run `fn` over a connection to the SAM alone (binding it, reading it), then reset it."""
        return self._in_session(("sam",), lambda t: fn(t[0]))

    def _in_session(self, slots: tuple[Slot, ...], body: Callable[[list[PcscTransport]], T]) -> T:
        """Connect to `slots` on the I/O thread, run `body` over them, disconnect with a reset."""
        wanted = {"card": self.card_reader, "sam": self.sam_reader}
        with self._read_lock:
            if self._worker is None:
                self._worker = _Worker()
            worker = self._worker
            session = _Session()
            try:
                try:
                    opened = worker.call(
                        lambda: session.open([(wanted[s], s) for s in slots]), self.apdu_timeout
                    )
                except TimeoutError:
                    raise CardTimeoutError("PC/SC did not connect in time") from None
                transports = [
                    PcscTransport(worker, handle, protocol, slot, self.apdu_timeout)
                    for (handle, protocol), slot in zip(opened, slots, strict=True)
                ]
                return body(transports)
            finally:
                self._close_session(worker, session)

    def _close_session(self, worker: _Worker, session: _Session) -> None:
        if not worker.stuck:
            try:
                worker.call(session.close, self.apdu_timeout)
                return
            except TimeoutError:
                _log.warning("PC/SC did not release the card in time; abandoning the I/O thread")
        worker.post(session.close)  # runs once the stuck call returns
        worker.stop()
        self._worker = None

    def wait_for_card(self, timeout: float) -> None:
        """Return once a card is in the card slot; NoCardError after `timeout` seconds."""
        context = _establish()
        deadline = time.monotonic() + timeout
        try:
            name = _resolve(context, self.card_reader, "card")
            state, wait_ms = scard.SCARD_STATE_UNAWARE, 0
            while True:
                hresult, states = scard.SCardGetStatusChange(context, wait_ms, [(name, state)])
                if hresult == _SUCCESS:
                    state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                    if state & scard.SCARD_STATE_PRESENT:
                        return
                elif hresult != scard.SCARD_E_TIMEOUT:
                    raise translate(hresult, "card", "status")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NoCardError(f"no card in the reader within {timeout:g} s")
                wait_ms = max(int(left * 1000), 1)
        except scard.error as err:
            raise CardError("card PC/SC failure, status") from err
        finally:
            scard.SCardReleaseContext(context)

    def start_monitor(self, callback: Callable[[CardEvent], None]) -> None:
        """Call `callback` (from a monitor thread) on every insertion and removal."""
        if self._monitor is not None:
            raise RuntimeError("the card monitor is already running")
        self._monitor = _Monitor(self.card_reader, callback)
        self._monitor.start()

    def stop_monitor(self) -> None:
        """Stop the monitor thread."""
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.stop()

    def close(self) -> None:
        """Stop the monitor and the I/O thread."""
        self.stop_monitor()
        with self._read_lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None

    def __repr__(self) -> str:
        return f"PcscCardReader(card={self.card_reader!r}, sam={self.sam_reader!r})"


class _Monitor:
    """SCardGetStatusChange in a thread, reporting card insertion and removal."""

    def __init__(self, wanted: str, callback: Callable[[CardEvent], None]) -> None:
        self._wanted = wanted
        self._callback = callback
        self._stop = threading.Event()
        self._context: int | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pcsc-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            if self._context is not None:
                scard.SCardCancel(self._context)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _emit(self, kind: CardEventKind, reader: str) -> None:
        try:
            self._callback(CardEvent(kind, reader))
        except Exception:
            _log.exception("card event callback failed")

    def _run(self) -> None:
        present: bool | None = None
        last_problem = ""
        while not self._stop.is_set():
            try:
                present = self._watch(present)
            except CardError as err:
                level = logging.DEBUG if str(err) == last_problem else logging.WARNING
                _log.log(level, "card monitor: %s; retrying", err)
                last_problem = str(err)
                self._stop.wait(1.0)
            finally:
                with self._lock:
                    if self._context is not None:
                        scard.SCardReleaseContext(self._context)
                        self._context = None

    def _watch(self, present: bool | None) -> bool | None:
        context = _establish()
        with self._lock:
            self._context = context
        if self._stop.is_set():
            return present
        name = _resolve(context, self._wanted, "card")
        state, events = scard.SCARD_STATE_UNAWARE, None
        while not self._stop.is_set():
            hresult, states = scard.SCardGetStatusChange(context, _MONITOR_POLL_MS, [(name, state)])
            if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
                continue
            if hresult != _SUCCESS:
                raise translate(hresult, "card", "status change")
            state = states[0][1] & ~scard.SCARD_STATE_CHANGED
            if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                raise NoReaderError(f"card reader {name!r} went away")
            now = bool(state & scard.SCARD_STATE_PRESENT)
            count = state >> 16  # pcsc-lite: insertions + removals so far
            if now != present and (now or present is not None):
                self._emit(CardEventKind.INSERTED if now else CardEventKind.REMOVED, name)
            elif now and present and events is not None and count != events:
                self._emit(CardEventKind.REMOVED, name)  # swapped between two polls
                self._emit(CardEventKind.INSERTED, name)
            present, events = now, count
        return present
