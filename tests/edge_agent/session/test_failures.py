"""Card, fingerprint module and gateway failures, and the outcome each one shows."""

from __future__ import annotations

import pytest

from edge_agent.session.screens import ScreenName
from hardware.card.reader import IdentityField
from hardware.errors import (
    CardNotAuthenticError,
    CardTimeoutError,
    MalformedCardDataError,
    NoReaderError,
    SamMissingError,
    SamNotAuthorisedError,
)
from hardware.fingerprint.errors import MalformedPacketError, SensorTimeoutError
from protocol.outcomes import Outcome
from tests.edge_agent.fakes import buffers_of, card_of
from tests.edge_agent.session.harness import AYU, FOUND_ELEMENTS, MATCH, Kiosk


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (CardNotAuthenticError("mutual authentication failed", 0x6982), Outcome.CARD_NOT_AUTHENTIC),
        (MalformedCardDataError("bad TLV"), Outcome.CARD_UNREADABLE),
        (CardTimeoutError("card did not answer"), Outcome.CARD_UNREADABLE),
        (SamMissingError("no SAM"), Outcome.SERVICE_UNAVAILABLE),
        (SamNotAuthorisedError("SAM not activated", 0x6985), Outcome.SERVICE_UNAVAILABLE),
        (NoReaderError("no reader"), Outcome.SERVICE_UNAVAILABLE),
    ],
)
async def test_card_errors(kiosk: Kiosk, error: Exception, outcome: Outcome) -> None:
    kiosk.card.feed(error)
    kiosk.insert()
    await kiosk.finish_result(outcome)
    assert kiosk.finger.calls == [] and kiosk.gateway.calls == []
    assert kiosk.session.counter.snapshot() == {outcome.value: 1}


@pytest.mark.parametrize("field", ["missing NIK", "short NIK", "no templates"])
async def test_card_without_usable_data_is_unreadable(kiosk: Kiosk, field: str) -> None:
    contents = card_of(AYU)
    kept = buffers_of(contents)
    if field == "missing NIK":
        del contents.identity[IdentityField.NIK]
    elif field == "short NIK":
        del contents.identity[IdentityField.NIK][-1]
    else:
        contents.templates.clear()
    kiosk.start(contents)
    await kiosk.finish_result(Outcome.CARD_UNREADABLE)
    assert [b for b in kept if b in contents.identity.values()] == []
    assert kiosk.finger.calls == []


@pytest.mark.parametrize(
    "error",
    [SensorTimeoutError("module did not answer"), MalformedPacketError("bad packet")],
)
async def test_fingerprint_module_fault_is_service_unavailable(
    kiosk: Kiosk, error: Exception
) -> None:
    kiosk.finger.feed(error)
    kiosk.start(card_of(AYU))
    await kiosk.finish_result(Outcome.SERVICE_UNAVAILABLE)
    assert kiosk.gateway.calls == []


async def test_gateway_unavailable_is_shown(kiosk: Kiosk) -> None:
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(Outcome.SERVICE_UNAVAILABLE)
    kiosk.start(card_of(AYU))
    screen = await kiosk.finish_result(Outcome.SERVICE_UNAVAILABLE)
    assert screen.to_message()["hint"]["id"] == Outcome.SERVICE_UNAVAILABLE.hint()


@pytest.mark.parametrize(
    "outcome", [o for o in Outcome if o.info.upstream] + [Outcome.PATTERN_BLOCKED]
)
async def test_gateway_outcome_is_shown_as_it_is(kiosk: Kiosk, outcome: Outcome) -> None:
    kiosk.finger.feed(MATCH)
    elements = FOUND_ELEMENTS if outcome.info.data_returned else {}
    kiosk.gateway.answer(outcome, elements)
    kiosk.start(card_of(AYU))
    result = await kiosk.screens.expect(ScreenName.RESULT, outcome)
    message = result.to_message()
    assert message["text"] == {"id": outcome.info.text_id, "en": outcome.info.text_en}
    assert len(message["elements"]) == len(elements)


async def test_unexpected_driver_exception_is_service_unavailable(kiosk: Kiosk) -> None:
    kiosk.card.feed(OSError("pcscd went away"))
    kiosk.insert()
    await kiosk.finish_result(Outcome.SERVICE_UNAVAILABLE)
