"""Data balikan in the session: the institution's number after FOUND, returned through the
gateway within the session, shown, then wiped; every failure of the institution an outcome."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from edge_agent.config import BalikanConfig
from edge_agent.session.balikan import RETURNS_PATH, Balikan
from edge_agent.session.institution_link import InstitutionFailure
from edge_agent.session.report import SessionReport
from edge_agent.session.screens import ScreenName
from edge_agent.session.verification import Session
from protocol.balikan import BalikanOutcome
from protocol.elements import DataElement
from protocol.messages import ReaderIdentity, decode_body, encode_body
from protocol.outcomes import Outcome
from tests.clock import FakeClock
from tests.edge_agent.fakes import FakeCard, FakeFinger, FakeGatewayPort, Recorder, card_of
from tests.edge_agent.session.harness import AYU, FOUND_ELEMENTS, MATCH, Kiosk, T

CONFIG = BalikanConfig(
    url="https://perpus.example/v1/members",
    ca_file=Path("ca.pem"),
    elements=(DataElement.NIK, DataElement.FULL_NAME, DataElement.BIRTH_DATE),
    label_id="Nomor anggota",
    label_en="Member number",
    return_attempts=3,
)
NUMBER = "PERPUS-000042"


@dataclass
class FakeInstitution:
    """The institution's service: a number, or an InstitutionFailure; holds when told to."""

    answers: deque[str | InstitutionFailure] = field(default_factory=deque)
    calls: list[dict[DataElement, str]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    given: list[bytearray] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def member_number(
        self, request_id: str, elements: Mapping[DataElement, bytearray]
    ) -> bytearray:
        self.calls.append({e: v.decode() for e, v in elements.items()})
        self.called.set()
        if self.hold is not None:
            await self.hold.wait()
        answer = self.answers.popleft() if self.answers else NUMBER
        if isinstance(answer, InstitutionFailure):
            raise answer
        number = bytearray(answer.encode())
        self.given.append(number)
        return number


@dataclass
class FakeReturns:
    """The gateway's returns route: scripted (status, body) or an exception per attempt."""

    script: deque[tuple[int, dict[str, object] | None] | Exception] = field(default_factory=deque)
    posts: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def post_body(self, path: str, request_id: str, body: bytearray) -> tuple[int, bytes]:
        self.posts.append((path, request_id, bytes(body)))
        step = self.script.popleft() if self.script else (200, None)
        if isinstance(step, Exception):
            raise step
        status, answer = step
        if answer is None:
            answer = {"request_id": request_id, "accepted": True}
        return status, encode_body(answer)


@dataclass
class BalikanKiosk(Kiosk):
    institution: FakeInstitution = field(default_factory=FakeInstitution)
    returns: FakeReturns = field(default_factory=FakeReturns)
    balikan: Balikan | None = None


@pytest.fixture
async def kiosk() -> AsyncIterator[BalikanKiosk]:
    card, finger, gateway, clock, screens = (
        FakeCard(),
        FakeFinger(),
        FakeGatewayPort(),
        FakeClock(),
        Recorder(),
    )
    institution, returns = FakeInstitution(), FakeReturns()
    balikan = Balikan(CONFIG, institution, returns, clock, retry_delay=0.5)
    reports: list[SessionReport] = []
    session = Session(
        card=card,
        finger=finger,
        gateway=gateway,
        reader=ReaderIdentity("RDR-0001", "SAM-0001"),
        timeouts=T,
        clock=clock,
        observers=[screens],
        on_finished=reports.append,
        balikan=balikan,
    )
    yield BalikanKiosk(
        session, card, finger, gateway, clock, screens, reports, institution, returns, balikan
    )
    card.release()
    finger.release()
    gateway.release.set()
    if institution.hold is not None:
        institution.hold.set()
    await session.close()


async def _close_result(kiosk: Kiosk) -> None:
    await kiosk.clock.wait_sleeping(T.result_display)
    kiosk.clock.advance(T.result_display)
    await kiosk.screens.expect(ScreenName.IDLE)


def _found(kiosk: Kiosk, outcome: Outcome = Outcome.FOUND) -> None:
    kiosk.finger.feed(MATCH)
    kiosk.gateway.answer(outcome, FOUND_ELEMENTS)
    kiosk.start(card_of(AYU))


async def test_found_hands_the_permitted_elements_returns_the_number_and_wipes_it(
    kiosk: BalikanKiosk,
) -> None:
    _found(kiosk)
    screen = await kiosk.finish_result(Outcome.FOUND)
    # only the permitted elements the gateway returned (no birth date came back)
    assert kiosk.institution.calls == [
        {DataElement.NIK: AYU.nik, DataElement.FULL_NAME: AYU.full_name}
    ]
    [(path, request_id, body)] = kiosk.returns.posts
    sent = decode_body(body)
    assert path == RETURNS_PATH and sent["request_id"] == request_id
    assert (sent["nik"], sent["return_number"]) == (AYU.nik, NUMBER)
    assert len(sent["replay_key"]) == 43
    assert screen.balikan is not None and screen.balikan.number == bytearray()  # wiped
    assert kiosk.institution.given[0] is screen.balikan.number
    assert kiosk.reports[-1].outcome is Outcome.FOUND
    assert kiosk.balikan is not None and kiosk.balikan.stats["RETURNED"] == 1


async def test_the_result_screen_shows_the_institutions_answer_in_both_languages(
    kiosk: BalikanKiosk,
) -> None:
    kiosk.institution.hold = asyncio.Event()
    _found(kiosk)
    await kiosk.screens.expect(ScreenName.QUERYING)  # the page waits on the querying screen
    kiosk.institution.hold.set()
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    message = screen.to_message()["balikan"]
    assert message == {
        "outcome": "RETURNED",
        "text": {"id": "Nomor Anda dari instansi", "en": "Your number from the institution"},
        "hint": {
            "id": "Catat nomor ini; nomor ini juga sudah dilaporkan ke Dukcapil.",
            "en": "Write this number down; it has also been reported to Dukcapil.",
        },
        "label": {"id": "Nomor anggota", "en": "Member number"},
        "number": NUMBER,
    }
    assert NUMBER not in repr(screen) and NUMBER not in repr(screen.balikan)
    await _close_result(kiosk)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("down", BalikanOutcome.INSTITUTION_UNAVAILABLE),
        ("timeout", BalikanOutcome.INSTITUTION_UNAVAILABLE),
        ("malformed", BalikanOutcome.INSTITUTION_UNAVAILABLE),
        ("tls", BalikanOutcome.INSTITUTION_UNAVAILABLE),
        ("refused", BalikanOutcome.INSTITUTION_REFUSED),
    ],
)
async def test_a_failure_of_the_institution_is_its_own_outcome_and_nothing_is_returned(
    kiosk: BalikanKiosk, kind: str, expected: BalikanOutcome
) -> None:
    kiosk.institution.answers.append(InstitutionFailure(kind, "simulated"))
    kiosk.institution.hold = asyncio.Event()
    _found(kiosk)
    await kiosk.screens.expect(ScreenName.QUERYING)
    kiosk.institution.hold.set()
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    message = screen.to_message()
    assert message["outcome"] == "FOUND"  # the verification stands; counted as FOUND
    assert message["balikan"]["outcome"] == expected.value
    assert message["balikan"]["number"] is None
    assert message["balikan"]["text"]["id"] == expected.info.text_id
    assert kiosk.returns.posts == []
    await _close_result(kiosk)
    assert kiosk.session.counter.get(Outcome.FOUND) == 1


async def test_the_return_is_retried_within_the_session_with_the_same_body(
    kiosk: BalikanKiosk,
) -> None:
    kiosk.returns.script.extend(
        [aiohttp.ClientConnectionError("reset"), (503, {"error": {"code": "X"}}), (200, None)]
    )
    _found(kiosk)
    await kiosk.clock.wait_sleeping(0.5)  # after the first failure
    kiosk.clock.advance(0.5)
    await kiosk.clock.wait_sleeping(1.0)  # after the second, a little longer
    kiosk.clock.advance(1.0)
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    assert screen.to_message()["balikan"]["outcome"] == "RETURNED"
    assert len(kiosk.returns.posts) == 3
    assert len({(rid, body) for _, rid, body in kiosk.returns.posts}) == 1  # one request id
    await _close_result(kiosk)


async def test_a_return_that_does_not_go_through_still_shows_the_number(
    kiosk: BalikanKiosk,
) -> None:
    kiosk.returns.script.extend([TimeoutError(), TimeoutError(), TimeoutError()])
    _found(kiosk)
    for delay in (0.5, 1.0):
        await kiosk.clock.wait_sleeping(delay)
        kiosk.clock.advance(delay)
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    balikan = screen.to_message()["balikan"]
    assert (balikan["outcome"], balikan["number"]) == ("RETURN_NOT_SENT", NUMBER)
    assert len(kiosk.returns.posts) == 3  # and nothing kept for later
    await _close_result(kiosk)


async def test_an_answer_for_another_request_id_is_not_trusted(kiosk: BalikanKiosk) -> None:
    kiosk.returns.script.append(
        (200, {"request_id": "0" * 32, "accepted": False, "reason": "NOT_LOOKED_UP"})
    )
    kiosk.returns.script.append((200, None))
    _found(kiosk)
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    # the answer named another request id: not trusted, not retried
    assert screen.to_message()["balikan"]["outcome"] == "RETURN_NOT_SENT"
    assert len(kiosk.returns.posts) == 1
    await _close_result(kiosk)


async def test_a_typed_refusal_of_the_gateway_is_logged_with_its_reason(
    kiosk: BalikanKiosk, caplog: pytest.LogCaptureFixture
) -> None:
    class Refusing(FakeReturns):
        async def post_body(self, path: str, request_id: str, body: bytearray) -> tuple[int, bytes]:
            self.posts.append((path, request_id, bytes(body)))
            answer = {"request_id": request_id, "accepted": False, "reason": "NOT_LOOKED_UP"}
            return 200, encode_body(answer)

    assert kiosk.balikan is not None
    kiosk.balikan._gateway = Refusing()
    _found(kiosk)
    screen = await kiosk.screens.expect(ScreenName.RESULT, Outcome.FOUND)
    assert screen.to_message()["balikan"]["outcome"] == "RETURN_NOT_SENT"
    assert "reason=NOT_LOOKED_UP" in caplog.text
    assert AYU.nik not in caplog.text and NUMBER not in caplog.text
    await _close_result(kiosk)


@pytest.mark.parametrize("outcome", [Outcome.NOT_FOUND, Outcome.FOUND_DECEASED])
async def test_no_balikan_unless_found(kiosk: BalikanKiosk, outcome: Outcome) -> None:
    _found(kiosk, outcome)
    screen = await kiosk.finish_result(outcome)
    assert "balikan" not in screen.to_message()
    assert kiosk.institution.calls == [] and kiosk.returns.posts == []


async def test_a_card_pulled_while_the_institution_answers_ends_the_session(
    kiosk: BalikanKiosk,
) -> None:
    kiosk.institution.hold = asyncio.Event()
    _found(kiosk)
    await kiosk.screens.expect(ScreenName.QUERYING)
    async with asyncio.timeout(5):
        await kiosk.institution.called.wait()
    kiosk.pull()
    await kiosk.screens.expect(ScreenName.IDLE)
    assert kiosk.returns.posts == []
    assert "result" not in kiosk.screens.names()
    # the look-up was answered (and counted FOUND at the gateway): the session counts it so too
    assert kiosk.reports[-1].outcome is Outcome.FOUND
