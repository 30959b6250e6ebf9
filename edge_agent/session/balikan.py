"""Data balikan inside one verification session: the institution's number, returned to Dukcapil.

After a FOUND answer, and only when [balikan] is configured, the session calls `Balikan.run`
before it shows the result: the permitted elements go to the institution's service, which
answers with its own number for the person; NIK and number go to the gateway's returns route
(`/v1/returns`), tried up to `return_attempts` times within the session, with the same request
id and replay key (the gateway answers a request id once). Nothing is written anywhere: the
number lives in a bytearray of the session, wiped with the rest of its data, and a return that
did not go through is not kept for later. What the citizen sees is a `BalikanResult` on the
result screen; a failure of the institution's service is an outcome of its own
(protocol.balikan.BalikanOutcome).
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from common.buffers import wipe
from common.clock import Clock
from edge_agent.config import BalikanConfig
from edge_agent.session.citizen_data import CitizenData
from edge_agent.session.institution_link import InstitutionFailure
from hardware.card.reader import IdentityField
from protocol.balikan import BalikanOutcome
from protocol.elements import DataElement
from protocol.messages import (
    REPLAY_KEY_BYTES,
    MessageError,
    ReturnRequest,
    decode_body,
    encode_body,
    parse_return_response,
)

_log = logging.getLogger(__name__)
RETURNS_PATH = "/v1/returns"
_RETRY_STATUS = frozenset({502, 503, 504})


class InstitutionPort(Protocol):
    """The institution's service (edge_agent.session.institution_link.InstitutionLink)."""

    async def member_number(
        self, request_id: str, elements: Mapping[DataElement, bytearray]
    ) -> bytearray:
        """Its number for the person (InstitutionFailure when it gives none)."""
        ...


class ReturnsPort(Protocol):
    """The gateway link's raw POST (edge_agent.session.gateway_link.GatewayLink.post_body)."""

    async def post_body(self, path: str, request_id: str, body: bytearray) -> tuple[int, bytes]:
        """One POST; aiohttp's errors and timeouts raise."""
        ...


@dataclass(eq=False)
class BalikanResult:
    """What the result screen adds for data balikan. `number` is the session's, wiped with it."""

    outcome: BalikanOutcome
    label_id: str
    label_en: str
    number: bytearray = field(default_factory=bytearray)

    def wipe(self) -> None:
        """Overwrite the number."""
        wipe(self.number)

    def to_message(self) -> dict[str, Any]:
        """The `balikan` part of the page's result message (the number decoded here only)."""
        info = self.outcome.info
        shown = info.number_shown and bool(self.number)
        return {
            "outcome": self.outcome.value,
            "text": {"id": info.text_id, "en": info.text_en},
            "hint": {"id": info.hint_id, "en": info.hint_en},
            "label": {"id": self.label_id, "en": self.label_en},
            "number": self.number.decode("ascii", "replace") if shown else None,
        }

    def __repr__(self) -> str:
        return f"BalikanResult({self.outcome.value}, number=<{len(self.number)}>)"


class Balikan:
    """Data balikan of the kiosk's sessions; `stats` counts outcomes (and failure kinds)."""

    def __init__(
        self,
        config: BalikanConfig,
        institution: InstitutionPort,
        gateway: ReturnsPort,
        clock: Clock,
        *,
        retry_delay: float = 0.5,
    ) -> None:
        self._cfg = config
        self._institution = institution
        self._gateway = gateway
        self._clock = clock
        self._retry_delay = retry_delay
        self.stats: Counter[str] = Counter()

    async def run(self, owned: CitizenData) -> BalikanResult:
        """The institution's number for this session's citizen, returned through the gateway.

        Never raises but for cancellation (the session aborted): every failure is an outcome.
        """
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        result = self._result(BalikanOutcome.INSTITUTION_UNAVAILABLE)
        try:
            result = await self._run(owned, request_id, result)
        except Exception:
            _log.exception("data balikan failed unexpectedly request_id=%s", request_id)
        self.stats[result.outcome.value] += 1
        _log.info(
            "data balikan outcome=%s request_id=%s ms=%.1f",
            result.outcome.value,
            request_id,
            (time.perf_counter() - started) * 1000,
        )
        return result

    async def _run(
        self, owned: CitizenData, request_id: str, result: BalikanResult
    ) -> BalikanResult:
        nik = owned.card.identity.get(IdentityField.NIK) if owned.card is not None else None
        elements = {e: owned.elements[e] for e in self._cfg.elements if e in owned.elements}
        if nik is None or not elements:
            self.stats["no_elements"] += 1
            _log.error(
                "data balikan: none of balikan.elements came back from the gateway; check them "
                "against the institution's PKS elements request_id=%s",
                request_id,
            )
            return result
        try:
            number = await self._institution.member_number(request_id, elements)
        except InstitutionFailure as failure:
            self.stats[failure.kind] += 1
            _log.warning("institution's service failed request_id=%s: %s", request_id, failure)
            if failure.kind == "refused":
                return self._result(BalikanOutcome.INSTITUTION_REFUSED)
            return result
        result = self._result(BalikanOutcome.RETURN_NOT_SENT, number)
        if await self._send_return(nik, number):
            result.outcome = BalikanOutcome.RETURNED
        return result

    def _result(self, outcome: BalikanOutcome, number: bytearray | None = None) -> BalikanResult:
        return BalikanResult(outcome, self._cfg.label_id, self._cfg.label_en, number or bytearray())

    async def _send_return(self, nik: bytearray, number: bytearray) -> bool:
        """NIK and number to the gateway; True when it accepted them. Retried in the session
        only, with the same request id and replay key."""
        request_id = uuid.uuid4().hex
        key = bytearray(secrets.token_bytes(REPLAY_KEY_BYTES))
        request = ReturnRequest(request_id, nik.decode("ascii"), number.decode("ascii"), bytes(key))
        body = bytearray(encode_body(request.to_json()))
        del request
        try:
            for attempt in range(1, self._cfg.return_attempts + 1):
                if attempt > 1:
                    await self._clock.sleep(self._retry_delay * (attempt - 1))
                verdict = await self._try_return(request_id, body, attempt)
                if verdict is not None:
                    return verdict
            _log.warning(
                "data balikan not returned after %d attempts request_id=%s",
                self._cfg.return_attempts,
                request_id,
            )
            return False
        finally:
            wipe(body, key)

    async def _try_return(self, request_id: str, body: bytearray, attempt: int) -> bool | None:
        """One attempt: True/False when the gateway decided, None to try again."""
        try:
            status, raw = await self._gateway.post_body(RETURNS_PATH, request_id, body)
        except (TimeoutError, aiohttp.ClientError) as err:
            _log.info(
                "returns route unreachable request_id=%s attempt=%d: %s",
                request_id,
                attempt,
                type(err).__name__,
            )
            return None
        if status in _RETRY_STATUS:
            _log.info("returns route HTTP %d request_id=%s attempt=%d", status, request_id, attempt)
            return None
        if status != 200:
            _log.warning("returns route refused request_id=%s: HTTP %d", request_id, status)
            return False
        try:
            answer = parse_return_response(decode_body(raw))
        except MessageError as err:
            _log.warning("returns route answer malformed request_id=%s: %s", request_id, err)
            return False
        if answer.request_id != request_id:
            _log.warning("returns route answered another request id request_id=%s", request_id)
            return False
        if not answer.accepted:
            self.stats["return_refused"] += 1
            _log.warning(
                "return refused by the gateway request_id=%s reason=%s", request_id, answer.reason
            )
        return answer.accepted
