"""The virtual-card side of vpcd, the PC/SC reader driver of vsmartcard.

vpcd (loaded by pcscd) listens on a TCP port per reader slot; a virtual card is the TCP client.
Every message is a 2-byte big-endian length followed by the payload. A 1-byte payload is a
control message (0 power off, 1 power on, 2 reset, 4 get ATR; only get ATR is answered, with the
ATR); any longer payload is a command APDU answered by a response APDU. pcscd asks for the ATR
every ~400 ms to see whether the card is still there; a closed connection is a removed card.

Delayed ACKs cost ~40 ms per APDU on loopback, so TCP_QUICKACK is re-armed before every recv.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Protocol

from hardware import TRAFFIC, traffic_enabled

_log = logging.getLogger(__name__)

CTRL_POWER_OFF = 0
CTRL_POWER_ON = 1
CTRL_RESET = 2
CTRL_GET_ATR = 4
_SW_UNKNOWN = b"\x6f\x00"
READER_SERIAL_APDU = bytes.fromhex("FF9A0105")  # the reader's own pseudo-APDU (CLA FF), Le 00
DEFAULT_READER_SERIAL = b"RDR-SIM-0001"
"""The serial the simulated reader reports unless given another (kiosk_sim's READER_ID)."""


class VirtualCard(Protocol):
    """What a slot can hold: an ATR, an APDU processor and power hooks.

    `process` may raise CardVanished to make the card disappear from the slot (the connection
    closes without an answer, as when a card is pulled mid-command).
    """

    @property
    def atr(self) -> bytes:
        """The answer to reset."""
        ...

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data || SW1 SW2)."""
        ...

    def power_on(self) -> None:
        """Contacts powered: volatile state starts afresh."""
        ...

    def power_off(self) -> None:
        """Contacts unpowered."""
        ...

    def reset(self) -> None:
        """Warm reset: volatile state starts afresh."""
        ...


class CardVanished(Exception):
    """Raised by a virtual card's `process` to leave the slot without answering."""


class SlotError(RuntimeError):
    """A virtual card could not be inserted (pcscd or its vpcd driver not listening)."""


class PowerUpError(SlotError):
    """pcscd accepted the card's connection but did not power it up."""


class _Connection:
    """One inserted card: a socket and the thread that serves it.

    `absent_seen` ends up True when the connection ended at a presence poll of pcscd (the poll
    got no ATR), so pcscd has recorded the slot as empty; otherwise the slot must show pcscd an
    empty poll before the next card goes in, or pcscd would take the next card for this one.
    """

    def __init__(
        self, sock: socket.socket, card: VirtualCard, name: str, reader_serial: bytes | None
    ) -> None:
        self.sock = sock
        self.reader_serial = reader_serial
        self.card = card
        self.powered = threading.Event()
        self.closed = threading.Event()
        self.leaving = threading.Event()
        self.absent_seen = False
        self._lock = threading.Lock()
        self._open = True
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def close(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
        with contextlib.suppress(OSError):  # the peer may already have gone
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def _recv_exact(self, size: int) -> bytes | None:
        return _recv_exact(self.sock, size)

    def _send(self, payload: bytes) -> None:
        self.sock.sendall(len(payload).to_bytes(2, "big") + payload)

    def _serve(self) -> None:
        after_power_on = False
        try:
            while True:
                header = self._recv_exact(2)
                if header is None:
                    break
                size = int.from_bytes(header, "big")
                payload = self._recv_exact(size) if size else b""
                if payload is None:
                    break
                if self.leaving.is_set():
                    # Pulled: leave without answering. A bare ATR request is a presence poll.
                    self.absent_seen = payload == bytes((CTRL_GET_ATR,)) and not after_power_on
                    break
                if size == 1:
                    after_power_on = self._control(payload[0], after_power_on)
                    continue
                answer = self._answer(payload)
                if answer is None or self.leaving.is_set():
                    _log.debug("virtual card left %s", self.thread.name)
                    break
                self._send(answer)
        except OSError:
            pass  # closed by remove() or by pcscd going away
        finally:
            self.close()
            self.closed.set()

    def _control(self, code: int, after_power_on: bool) -> bool:
        if code == CTRL_GET_ATR:
            self._send(self.card.atr)
            if after_power_on:
                self.powered.set()
            return False
        if code == CTRL_POWER_ON:
            self.card.power_on()
            return True
        if code == CTRL_RESET:
            self.card.reset()
            return True
        if code == CTRL_POWER_OFF:
            self.card.power_off()
        return False

    def _answer(self, apdu: bytes) -> bytes | None:
        if traffic_enabled(_log):
            _log.log(TRAFFIC, "%s > %s", self.thread.name, apdu.hex())
        try:
            if apdu[:4] == READER_SERIAL_APDU:  # the reader answers it, the card never sees it
                serial = self.reader_serial
                answer = serial + b"\x90\x00" if serial else b"\x6a\x81"
            else:
                answer = self.card.process(apdu)
        except CardVanished:
            return None
        except Exception:
            _log.exception("virtual card failed on a command; answering 6F00")
            answer = _SW_UNKNOWN
        if len(answer) < 2:
            _log.error("virtual card gave no status word; answering 6F00")
            answer = _SW_UNKNOWN
        if traffic_enabled(_log):
            _log.log(TRAFFIC, "%s < %s", self.thread.name, answer.hex())
        return answer


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class VirtualSlot:
    """One vpcd reader slot: insert a virtual card (connect) and remove it (disconnect).

    The slot plays the reader too: it answers the reader pseudo-APDU `FF 9A 01 05` (its serial,
    `reader_serial`; 6A81 when None) without passing it to the card, since vpcd has no reader
    attributes (docs/ktpel-card-protocol.md, "Reader serial").

    Both calls return once pcscd has seen the change: `insert` when pcscd has powered the card
    up, `remove` when a presence poll of pcscd has found the slot empty (up to ~0.4 s, the poll
    period, or ~0.8 s when the card was pulled in the middle of a command).
    """

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        *,
        reader_serial: bytes | None = DEFAULT_READER_SERIAL,
    ) -> None:
        self.port = port
        self.reader_serial = reader_serial
        self.host = host
        self._lock = threading.Lock()
        self._conn: _Connection | None = None

    @property
    def card(self) -> VirtualCard | None:
        """The card in the slot, or None (also after it vanished)."""
        conn = self._conn
        return conn.card if conn is not None and not conn.closed.is_set() else None

    @property
    def inserted(self) -> bool:
        """True while a card is connected."""
        return self.card is not None

    def insert(self, card: VirtualCard, timeout: float = 5.0) -> None:
        """Connect `card`; return once pcscd has powered it up (SlotError if it does not).

        If pcscd does not power the card up (it can take a new card for one pulled in the middle
        of a command that it was still waiting on), the slot shows it an empty poll and tries
        once more.
        """
        try:
            self._insert_once(card, timeout)
        except PowerUpError:
            _log.warning("pcscd did not power up the card on port %d: inserting again", self.port)
            self._insert_once(card, timeout)

    def _insert_once(self, card: VirtualCard, timeout: float) -> None:
        with self._lock:
            previous = self._conn
            if previous is not None and not previous.closed.is_set():
                raise SlotError(f"slot on port {self.port} already holds a card")
            if previous is not None and not previous.absent_seen:
                self._show_empty(timeout)  # the last card vanished mid-command
            self._conn = None
            sock = self._connect(timeout)
            conn = _Connection(sock, card, f"vpcd-slot-{self.port}", self.reader_serial)
            self._conn = conn
            conn.thread.start()
        if not conn.powered.wait(timeout):
            self.remove(timeout)  # ends with an empty poll when the card was never seen
            raise PowerUpError(
                f"pcscd did not power up the card on port {self.port} in {timeout} s"
            )

    def remove(self, timeout: float = 5.0) -> None:
        """Pull the card; return once pcscd has seen the slot empty. No-op if already empty."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            conn.leaving.set()
            if not conn.closed.wait(timeout):
                conn.close()  # pcscd stopped polling: just go
                conn.thread.join(timeout)
            if not conn.absent_seen:
                self._show_empty(timeout)
            self._conn = None

    def wait_vanished(self, timeout: float) -> bool:
        """Wait until the card in the slot left on its own (CardVanished); True if it did."""
        conn = self._conn
        return conn is None or conn.closed.wait(timeout)

    def close(self) -> None:
        """Remove any card; the slot object may be dropped afterwards."""
        self.remove()

    def _connect(self, timeout: float) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as err:
            raise SlotError(
                f"nothing accepts virtual cards on {self.host}:{self.port}: is pcscd "
                "running with the vpcd driver (kiosk_sim.pcscd.PcscdProcess)?"
            ) from err
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        return sock

    def _show_empty(self, timeout: float) -> None:
        """Let one presence poll of pcscd find no card: connect, take the poll, hang up."""
        sock = self._connect(timeout)
        sock.settimeout(timeout)
        try:
            _recv_exact(sock, 1)
        except TimeoutError:
            _log.warning("pcscd did not poll slot %d within %g s", self.port, timeout)
        except OSError:
            pass  # pcscd hung up first: the poll found nothing either way
        finally:
            sock.close()

    def __enter__(self) -> VirtualSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VirtualSlot({self.host}:{self.port}, {'card' if self.inserted else 'empty'})"
