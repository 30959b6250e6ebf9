"""The KTP-el driver through the REAL pcscd and vpcd, against the virtual card and SAM.

One private pcscd serves the session (tests/integration/conftest.py); the card and SAM slots
are vpcd's two readers. Nothing here sleeps: slots return once pcscd has seen the change, and
events are awaited with timeouts.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pytest
from smartcard import scard

from hardware import TRAFFIC
from hardware.card.pcsc import PcscCardReader, translate
from hardware.card.reader import CardEvent, CardEventKind, CardReader, Finger, IdentityField
from hardware.errors import (
    CardError,
    CardNotAuthenticError,
    CardRemovedError,
    CardTimeoutError,
    MalformedCardDataError,
    NoCardError,
    NoReaderError,
    SamMissingError,
    SamNotAuthorisedError,
)
from kiosk_sim.pcscd import PcscdProcess
from simulators.card import (
    CardFault,
    DirectTransport,
    VirtualSam,
    card_for,
    identity_values,
)
from simulators.personas import persona
from simulators.vpcd import VirtualCard, VirtualSlot
from tests.hardware.sam_keys import bound_sam, profile

pytestmark = pytest.mark.middleware

EVENT_TIMEOUT = 5.0


def _card_apdus_per_read() -> int:
    card = card_for("ayu")
    profile().read(DirectTransport(card), DirectTransport(bound_sam()))
    return card.apdu_count


CARD_APDUS = _card_apdus_per_read()


@dataclass
class Slots:
    card: VirtualSlot
    sam_slot: VirtualSlot
    sam: VirtualSam


@dataclass
class Rig:
    pcscd: PcscdProcess
    card_slot: VirtualSlot
    sam_slot: VirtualSlot
    sam: VirtualSam
    reader: PcscCardReader

    def insert(self, card: VirtualCard) -> None:
        """Put `card` in the card slot and wait until the reader sees it."""
        self.card_slot.insert(card)
        self.reader.wait_for_card(EVENT_TIMEOUT)


@pytest.fixture(scope="module")
def slots(pcscd: PcscdProcess) -> Iterator[Slots]:
    card_slot, sam_slot = VirtualSlot(pcscd.card_port), VirtualSlot(pcscd.sam_port)
    sam = bound_sam()
    sam_slot.insert(sam)
    yield Slots(card_slot, sam_slot, sam)
    card_slot.close()
    sam_slot.close()


@pytest.fixture
def rig(pcscd: PcscdProcess, slots: Slots) -> Iterator[Rig]:
    slots.sam.activated = True
    if not slots.sam_slot.inserted:
        slots.sam_slot.insert(slots.sam)
    reader = PcscCardReader(pcscd.card_reader, pcscd.sam_reader, profile(), apdu_timeout=2.0)
    yield Rig(pcscd, slots.card, slots.sam_slot, slots.sam, reader)
    reader.close()
    slots.card.remove()


# --- reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["ayu", "darmo", "gandari"])
def test_persona_card_reads_through_pcscd(rig: Rig, key: str) -> None:
    p = persona(key)
    rig.insert(card_for(key))
    contents = rig.reader.read()
    try:
        assert contents.identity[IdentityField.NIK] == p.nik.encode()
        assert contents.identity[IdentityField.FULL_NAME] == p.full_name.encode()
        assert contents.identity[IdentityField.PROVINCE] == p.province.encode()
        assert {f: bytes(v) for f, v in contents.identity.items()} == identity_values(p)
        assert contents.templates[Finger.RIGHT_INDEX] == p.template(Finger.RIGHT_INDEX)
        assert contents.templates[Finger.LEFT_INDEX] == p.template(Finger.LEFT_INDEX)
    finally:
        contents.wipe()


def test_same_card_reads_again_and_again(rig: Rig) -> None:
    rig.insert(card_for("bagas"))
    for _ in range(3):
        contents = rig.reader.read()
        assert contents.identity[IdentityField.NIK] == persona("bagas").nik.encode()
        contents.wipe()


def test_no_personal_data_in_logs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    p = persona("ayu")
    rig.insert(card_for("ayu", CardFault.TRUNCATED_TLV))
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(MalformedCardDataError):
            rig.reader.read()
        rig.card_slot.remove()
        rig.insert(card_for("ayu"))
        rig.reader.read().wipe()
    assert not any(r.levelno <= TRAFFIC for r in caplog.records)  # no raw APDUs by default
    assert p.nik not in caplog.text and p.full_name not in caplog.text


# --- SAM ----------------------------------------------------------------------------------------


def test_read_without_sam(rig: Rig) -> None:
    rig.sam_slot.remove()
    rig.insert(card_for("ayu"))
    with pytest.raises(SamMissingError):
        rig.reader.read()


def test_sam_not_activated_by_dukcapil(rig: Rig) -> None:
    rig.sam.activated = False
    rig.insert(card_for("ayu"))
    with pytest.raises(SamNotAuthorisedError) as info:
        rig.reader.read()
    assert info.value.sw == 0x6283


# --- bad cards ----------------------------------------------------------------------------------


def test_cloned_card_is_not_authentic(rig: Rig) -> None:
    rig.insert(card_for("ayu", CardFault.CLONED))
    with pytest.raises(CardNotAuthenticError) as info:
        rig.reader.read()
    assert info.value.sw == 0x6300


@pytest.mark.parametrize(
    "fault",
    [
        CardFault.TRUNCATED_TLV,
        CardFault.INCONSISTENT_TLV,
        CardFault.WRONG_LENGTH,
        CardFault.wrong_length(+16),
    ],
    ids=str,
)
def test_damaged_card_gives_malformed_data(rig: Rig, fault: CardFault) -> None:
    rig.insert(card_for("ayu", fault))
    with pytest.raises(MalformedCardDataError):
        rig.reader.read()


def test_foreign_card_is_not_a_ktpel(rig: Rig) -> None:
    rig.insert(VirtualSam())
    with pytest.raises(MalformedCardDataError) as info:
        rig.reader.read()
    assert info.value.sw == 0x6A82


def test_no_card(rig: Rig) -> None:
    with pytest.raises(NoCardError):
        rig.reader.read()
    with pytest.raises(NoCardError):
        rig.reader.wait_for_card(0.05)


def test_reader_is_a_card_reader(pcscd: PcscdProcess) -> None:
    reader: CardReader = PcscCardReader(pcscd.card_reader, pcscd.sam_reader)
    assert "Virtual PCD 00 00" in repr(reader)


def test_unknown_reader(pcscd: PcscdProcess) -> None:
    reader = PcscCardReader("Reader That Is Not There", pcscd.sam_reader)
    with pytest.raises(NoReaderError):
        reader.read()
    with pytest.raises(NoReaderError):
        reader.wait_for_card(0.01)
    reader.close()


# --- card pulled mid-read -----------------------------------------------------------------------


def test_read_has_the_expected_number_of_card_apdus() -> None:
    assert CARD_APDUS == 14


@pytest.mark.parametrize("n", range(1, CARD_APDUS + 1))
def test_card_pulled_at_every_apdu(rig: Rig, n: int) -> None:
    rig.insert(card_for("ayu", CardFault.vanish_at(n)))
    with pytest.raises((CardRemovedError, NoCardError)):
        rig.reader.read()
    assert rig.card_slot.wait_vanished(EVENT_TIMEOUT)
    rig.insert(card_for("bagas"))
    contents = rig.reader.read()
    assert contents.identity[IdentityField.NIK] == persona("bagas").nik.encode()
    contents.wipe()


# --- monitor ------------------------------------------------------------------------------------


def test_monitor_reports_insert_and_remove(rig: Rig) -> None:
    events: queue.Queue[CardEvent] = queue.Queue()
    rig.reader.start_monitor(events.put)
    try:
        rig.card_slot.insert(card_for("ayu"))
        assert events.get(timeout=EVENT_TIMEOUT) == CardEvent(
            CardEventKind.INSERTED, rig.pcscd.card_reader
        )
        rig.card_slot.remove()
        assert events.get(timeout=EVENT_TIMEOUT).kind is CardEventKind.REMOVED
        rig.card_slot.insert(card_for("bagas"))
        assert events.get(timeout=EVENT_TIMEOUT).kind is CardEventKind.INSERTED
    finally:
        rig.reader.stop_monitor()
    assert events.empty()


def test_monitor_reports_a_card_already_there_and_one_that_vanishes(rig: Rig) -> None:
    rig.insert(card_for("ayu", CardFault.vanish_at(2)))
    events: queue.Queue[CardEvent] = queue.Queue()
    rig.reader.start_monitor(events.put)
    try:
        assert events.get(timeout=EVENT_TIMEOUT).kind is CardEventKind.INSERTED
        with pytest.raises(CardRemovedError):
            rig.reader.read()
        assert events.get(timeout=EVENT_TIMEOUT).kind is CardEventKind.REMOVED
    finally:
        rig.reader.stop_monitor()


def test_monitor_cannot_start_twice(rig: Rig) -> None:
    rig.reader.start_monitor(lambda event: None)
    try:
        with pytest.raises(RuntimeError):
            rig.reader.start_monitor(lambda event: None)
    finally:
        rig.reader.stop_monitor()


# --- slow cards ---------------------------------------------------------------------------------


def test_slow_card_still_reads(rig: Rig) -> None:
    rig.insert(card_for("ayu", CardFault.slow(0.01)))
    contents = rig.reader.read()
    assert contents.identity[IdentityField.NIK] == persona("ayu").nik.encode()
    contents.wipe()


def test_too_slow_card_times_out_and_the_reader_recovers(rig: Rig) -> None:
    rig.reader.apdu_timeout = 0.1
    rig.insert(card_for("ayu", CardFault.slow(0.6)))
    started = time.monotonic()
    with pytest.raises(CardTimeoutError):
        rig.reader.read()
    assert time.monotonic() - started < 0.5  # gave up at the timeout, not when the card answered
    rig.card_slot.remove()
    rig.reader.apdu_timeout = 2.0
    rig.insert(card_for("bagas"))
    contents = rig.reader.read()
    assert contents.identity[IdentityField.NIK] == persona("bagas").nik.encode()
    contents.wipe()


# --- PC/SC result translation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hresult", "slot", "error"),
    [
        (scard.SCARD_E_NO_SERVICE, "card", NoReaderError),
        (scard.SCARD_E_UNKNOWN_READER, "sam", NoReaderError),
        (scard.SCARD_E_NO_SMARTCARD, "card", NoCardError),
        (scard.SCARD_E_NO_SMARTCARD, "sam", SamMissingError),
        (scard.SCARD_W_REMOVED_CARD, "card", CardRemovedError),
        (scard.SCARD_E_NOT_TRANSACTED, "card", CardRemovedError),
        (scard.SCARD_W_REMOVED_CARD, "sam", SamMissingError),
        (scard.SCARD_E_TIMEOUT, "card", CardTimeoutError),
        (scard.SCARD_E_SHARING_VIOLATION, "card", CardTimeoutError),
    ],
)
def test_pcsc_results_map_to_hardware_errors(
    hresult: int, slot: Literal["card", "sam"], error: type[CardError]
) -> None:
    translated = translate(hresult, slot, "transmit")
    assert type(translated) is error
    assert f"{hresult & 0xFFFFFFFF:08X}" in str(translated)


def test_unknown_pcsc_result_is_a_plain_card_error() -> None:
    assert type(translate(scard.SCARD_E_UNEXPECTED, "card", "connect")) is CardError
