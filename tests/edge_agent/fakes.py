"""Fakes of the session's ports and a recording screen observer (the clock: tests/clock.py)."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.session.screens import Screen, ScreenName
from hardware.card.reader import CardContents, CardEvent, Finger, IdentityField
from hardware.errors import NoCardError
from hardware.fingerprint.errors import FingerTimeoutError
from hardware.fingerprint.packet import MatchResult
from protocol.elements import DataElement
from protocol.messages import MatchEvidence, ReaderIdentity, VerificationResponse
from protocol.outcomes import Outcome
from simulators.personas import Persona
from tests.clock import WAIT


class FakeCard:
    """A card reader whose read() returns (or raises) what the test feeds, blocking until then."""

    def __init__(self) -> None:
        self._items: queue.Queue[CardContents | BaseException] = queue.Queue()
        self.reads = 0
        self.callback: Callable[[CardEvent], None] | None = None
        self.stopped = False
        self.monitoring = threading.Event()

    def start_monitor(self, callback: Callable[[CardEvent], None]) -> None:
        self.callback = callback
        self.monitoring.set()

    def stop_monitor(self) -> None:
        self.callback = None
        self.stopped = True

    def feed(self, item: CardContents | BaseException) -> None:
        self._items.put(item)

    def read(self) -> CardContents:
        self.reads += 1
        item = self._items.get(timeout=30)
        if isinstance(item, BaseException):
            raise item
        return item

    def release(self) -> None:
        for _ in range(4):
            self._items.put(NoCardError("released"))


@dataclass
class FingerCall:
    template: bytearray
    finger_timeout: float
    cancel: threading.Event | None


class FakeFinger:
    """A fingerprint module: each call waits for what the test feeds (or for its cancel)."""

    def __init__(self) -> None:
        self._items: queue.Queue[MatchResult | BaseException] = queue.Queue()
        self.calls: list[FingerCall] = []
        self.called = threading.Event()
        self._closed = threading.Event()

    def feed(self, *items: MatchResult | BaseException) -> None:
        for item in items:
            self._items.put(item)

    def verify_finger(
        self,
        template: bytearray,
        *,
        finger_timeout: float,
        cancel: threading.Event | None = None,
        fresh_press: bool = False,
    ) -> MatchResult:
        from hardware.fingerprint.errors import SensorCancelledError

        self.calls.append(FingerCall(template, finger_timeout, cancel))
        self.called.set()
        while not self._closed.is_set():
            if cancel is not None and cancel.is_set():
                raise SensorCancelledError("wait for a finger cancelled")
            try:
                item = self._items.get(timeout=0.01)  # a device waiting: poll its two inputs
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                raise item
            return item
        raise FingerTimeoutError("closed", 0x02)

    def release(self) -> None:
        self._closed.set()


@dataclass
class GatewayCall:
    request_id: str
    nik: bytearray
    nik_text: str
    match: MatchEvidence
    reader: ReaderIdentity


@dataclass
class FakeGatewayPort:
    """The gateway as the session sees it: answers from a script, or holds until released."""

    answers: deque[VerificationResponse | None] = field(default_factory=deque)
    calls: list[GatewayCall] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    proceed: asyncio.Event | None = None  # when set up, each answer waits for it

    def answer(self, outcome: Outcome, elements: dict[DataElement, str] | None = None) -> None:
        self.answers.append(VerificationResponse("0" * 32, outcome, elements or {}))

    def hold(self) -> None:
        self.answers.append(None)

    async def verify(
        self, request_id: str, nik: bytearray, match: MatchEvidence, reader: ReaderIdentity
    ) -> VerificationResponse:
        self.calls.append(GatewayCall(request_id, nik, nik.decode(), match, reader))
        if self.proceed is not None:
            await self.proceed.wait()
            self.proceed.clear()
        answer = self.answers.popleft() if self.answers else None
        if answer is None:
            await self.release.wait()
            return VerificationResponse(request_id, Outcome.SERVICE_UNAVAILABLE)
        return VerificationResponse(request_id, answer.outcome, answer.elements)


class Recorder:
    """A ScreenObserver that keeps every screen; `expect()` waits for the next one of a kind."""

    def __init__(self) -> None:
        self.screens: list[Screen] = []
        self._cursor = 0
        self._changed = asyncio.Event()

    def show(self, screen: Screen) -> None:
        self.screens.append(screen)
        self._changed.set()

    async def expect(self, name: ScreenName, outcome: Outcome | None = None) -> Screen:
        """The next screen named `name` (after the last one expected), waiting for it."""
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    for i in range(self._cursor, len(self.screens)):
                        screen = self.screens[i]
                        if screen.name is name and (outcome is None or screen.outcome is outcome):
                            self._cursor = i + 1
                            return screen
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [(s.name.value, s.outcome.value if s.outcome else None) for s in self.screens]
            raise AssertionError(f"no {name.value} {outcome} screen; seen {seen}") from None

    def names(self) -> list[str]:
        return [s.name.value for s in self.screens]


def card_of(persona: Persona) -> CardContents:
    """What a KTP-el of `persona` reads as."""
    identity = {
        IdentityField.NIK: persona.nik,
        IdentityField.KK_NUMBER: persona.kk_number,
        IdentityField.FULL_NAME: persona.full_name,
        IdentityField.BIRTH_PLACE: persona.birth_place,
        IdentityField.BIRTH_DATE: persona.birth_date.strftime("%d-%m-%Y"),
        IdentityField.ADDRESS: persona.address,
    }
    return CardContents(
        identity={k: bytearray(v.encode()) for k, v in identity.items()},
        templates={f: bytearray(persona.template(f)) for f in Finger},
    )


def buffers_of(contents: CardContents) -> list[bytearray]:
    """Every buffer of a card read (keep them to check the wipe)."""
    return [*contents.identity.values(), *contents.templates.values()]
