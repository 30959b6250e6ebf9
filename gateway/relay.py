"""The relay: one verification or data balikan from an authenticated device to the upstream.

Order of checks for a verification: device (revoked, CRL, network cut, reader deactivated,
reader/SAM pinning) → replay of a known request id → institution active → user ID usable →
NIK format → anti-scraping → quota → upstream → element filter. Only decided answers are
counted (once per request id) and replayed, sealed under the device's replay key
(gateway.replay); an upstream failure is neither.

A data balikan is relayed only for a NIK the same device looked up (with data returned) within
the session window (gateway.lookups); otherwise it is refused with the reason NOT_LOOKED_UP,
without asking the upstream.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from common.clock import Clock, local_day
from gateway.accesslog import AccessLog
from gateway.answers import Answer, error_answer
from gateway.antiscrape import AntiScrape
from gateway.errors import StoreError, UpstreamError
from gateway.logs import SECURITY
from gateway.lookups import LookupMemory
from gateway.peers import Peer
from gateway.registry import Registry
from gateway.replay import SealedReplay
from gateway.store.base import Store
from gateway.upstream.base import PARAMETER_CHECKS, Upstream, UpstreamAccount
from gateway.usage import UsageCounter
from protocol.elements import DataElement
from protocol.messages import (
    ReaderIdentity,
    ReturnRequest,
    ReturnResponse,
    VerificationRequest,
    VerificationResponse,
    encode_body,
)
from protocol.nik import is_valid_nik
from protocol.outcomes import Outcome
from protocol.regions import utc_offset_hours

log = logging.getLogger(__name__)
VERIFY = "/v1/verifications"
RETURNS = "/v1/returns"
NOT_LOOKED_UP = "NOT_LOOKED_UP"  # the reason of a return for a NIK this device did not look up
_DATA_RETURNED = frozenset(o for o in Outcome if o.info.data_returned)
_ELEMENTS = {e.value: e for e in DataElement}


def filter_elements(record: Mapping[str, str], permitted: frozenset[str]) -> dict[DataElement, str]:
    """Only the elements the institution's PKS lists, whatever the upstream sent."""
    return {_ELEMENTS[name]: value for name, value in record.items() if name in permitted}


class Relay:
    """The decision pipeline between the HTTP API and the upstream adapter."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        upstream: Upstream,
        accounts: dict[str, UpstreamAccount],
        antiscrape: AntiScrape,
        replay: SealedReplay,
        usage: UsageCounter,
        clock: Clock,
        access: AccessLog,
        lookups: LookupMemory,
    ) -> None:
        self._registry = registry
        self._store = store
        self._upstream = upstream
        self._accounts = accounts
        self._antiscrape = antiscrape
        self._replay = replay
        self._usage = usage
        self._clock = clock
        self._access = access
        self._lookups = lookups
        self.upstream_ok = True

    async def verify(self, peer: Peer, req: VerificationRequest) -> Answer:
        """Answer one verification request of a device."""
        return await self._request(peer, req)

    async def send_return(self, peer: Peer, req: ReturnRequest) -> Answer:
        """Relay one data balikan of a device."""
        return await self._request(peer, req)

    async def _request(self, peer: Peer, req: VerificationRequest | ReturnRequest) -> Answer:
        """Admit, answer once per request id, and write the access-log line."""
        started = self._clock.monotonic()
        timing = [0.0]
        reader = req.reader if isinstance(req, VerificationRequest) else None
        inst_id = self._admit(peer, req.request_id, reader)
        if isinstance(inst_id, Answer):
            answer = inst_id
            inst_id = "-"
        else:
            answer = await self._once(peer, inst_id, timing, req)
        self._access.write(
            RETURNS if reader is None else VERIFY,
            peer.name,
            inst_id,
            req.request_id,
            answer.status,
            answer.outcome,
            (self._clock.monotonic() - started) * 1000.0,
            timing[0],
        )
        return answer

    def _admit(self, peer: Peer, request_id: str, reader: ReaderIdentity | None) -> str | Answer:
        inst_id = self._registry.institution_of(peer)
        if inst_id is None:
            SECURITY.warning(
                "device_refused reason=no_institution device=%s request_id=%s",
                peer.name,
                request_id,
            )
            return error_answer(403, "FORBIDDEN", "the device is not registered to an institution")
        reason = self._registry.refusal(peer, inst_id, reader)
        if reason is not None:
            SECURITY.warning(
                "device_refused reason=%s device=%s institution=%s request_id=%s",
                reason,
                peer.name,
                inst_id,
                request_id,
            )
            return error_answer(
                403, Outcome.DEVICE_DEACTIVATED.value, "this device may not use the service"
            )
        return inst_id

    async def _once(
        self,
        peer: Peer,
        inst_id: str,
        timing: list[float],
        req: VerificationRequest | ReturnRequest,
    ) -> Answer:
        """The answer of a request id, decided once (gateway.replay): a retry with the same
        replay key gets the sealed answer; another key or another NIK gets 409. Every replica
        decides (quota, anti-scraping) only what it admitted itself.
        """
        route = "v" if isinstance(req, VerificationRequest) else "r"
        admitted = await self._replay.admit(
            peer.name, route, req.request_id, req.nik, req.replay_key
        )
        if isinstance(admitted, Answer):
            return admitted
        try:
            if isinstance(req, VerificationRequest):
                answer = await self._decide(peer, inst_id, req, timing)
            else:
                answer = await self._relay_return(peer, inst_id, req, timing)
        except BaseException:
            self._replay.abandon(admitted)
            raise
        await self._replay.finish(admitted, answer)
        return answer

    async def _decide(
        self,
        peer: Peer,
        inst_id: str,
        req: VerificationRequest,
        timing: list[float],
    ) -> Answer:
        policy = self._registry.policies[inst_id]
        day = local_day(
            self._clock.time(), utc_offset_hours(self._registry.institutions[inst_id].province)
        )
        elements: dict[DataElement, str] = {}
        outcome: Outcome | None = None
        if not policy.active:
            outcome = Outcome.INSTITUTION_INACTIVE
        elif not policy.user_usable():
            outcome = Outcome.USER_INACTIVE
        elif not is_valid_nik(req.nik):
            outcome = Outcome.INVALID_NIK_FORMAT
        elif rule := self._antiscrape.check(inst_id, peer.name, req.nik):
            SECURITY.warning(
                "pattern_blocked rule=%s device=%s institution=%s request_id=%s",
                rule,
                peer.name,
                inst_id,
                req.request_id,
            )
            outcome = Outcome.PATTERN_BLOCKED
        took = False
        limit = policy.daily_limit()
        if outcome is None and limit is not None:
            try:
                took = limit > 0 and await self._store.take_quota(inst_id, day, limit)
            except StoreError as err:
                log.error("quota store failure institution=%s: %s", inst_id, err)
                return error_answer(
                    503, Outcome.SERVICE_UNAVAILABLE.value, "the quota store did not answer"
                )
            if not took:
                outcome = Outcome.QUOTA_EXHAUSTED
        if outcome is None:
            t0 = self._clock.monotonic()
            try:
                answer = await self._upstream.verify(self._accounts[inst_id], req.nik)
            except UpstreamError as err:
                timing[0] = (self._clock.monotonic() - t0) * 1000.0
                return await self._unavailable(inst_id, day, took, err, req.request_id)
            timing[0] = (self._clock.monotonic() - t0) * 1000.0
            self.upstream_ok = True
            outcome = answer.outcome
            if took and outcome in PARAMETER_CHECKS:
                await self._give_back(inst_id, day)
            if outcome in _DATA_RETURNED:
                elements = filter_elements(answer.record, policy.element_names)
                self._lookups.remember(peer.name, req.nik)
        code = outcome.value
        self._usage.add(inst_id, day, code)
        body = encode_body(VerificationResponse(req.request_id, outcome, elements).to_json())
        return Answer(200, body, code)

    async def _give_back(self, inst_id: str, day: str) -> None:
        try:
            await self._store.give_back_quota(inst_id, day)
        except StoreError as err:
            log.warning("could not give back a quota unit: %s", err)

    async def _unavailable(
        self, inst_id: str, day: str, took: bool, err: UpstreamError, request_id: str
    ) -> Answer:
        self.upstream_ok = False
        log.warning(
            "upstream failure kind=%s institution=%s request_id=%s", err.kind, inst_id, request_id
        )
        if took:
            await self._give_back(inst_id, day)
        return error_answer(
            503, Outcome.SERVICE_UNAVAILABLE.value, "the population database did not answer"
        )

    async def _relay_return(
        self, peer: Peer, inst_id: str, req: ReturnRequest, timing: list[float]
    ) -> Answer:
        policy = self._registry.policies[inst_id]
        day = local_day(
            self._clock.time(), utc_offset_hours(self._registry.institutions[inst_id].province)
        )
        if not policy.active:
            reason: str | None = Outcome.INSTITUTION_INACTIVE.value
        elif not policy.user_usable():
            reason = Outcome.USER_INACTIVE.value
        elif not self._lookups.looked_up(peer.name, req.nik):
            SECURITY.warning(
                "return_refused reason=not_looked_up device=%s institution=%s request_id=%s",
                peer.name,
                inst_id,
                req.request_id,
            )
            reason = NOT_LOOKED_UP
        else:
            t0 = self._clock.monotonic()
            account = self._accounts[inst_id]
            try:
                result = await self._upstream.send_return(account, req.nik, req.return_number)
            except UpstreamError as err:
                timing[0] = (self._clock.monotonic() - t0) * 1000.0
                return await self._unavailable(inst_id, day, False, err, req.request_id)
            timing[0] = (self._clock.monotonic() - t0) * 1000.0
            self.upstream_ok = True
            if isinstance(result, Outcome):
                reason = result.value
            else:
                reason = None if result.accepted else result.reason or "REJECTED"
        accepted = reason is None
        if accepted:
            self._lookups.use(peer.name, req.nik)
        self._usage.add(inst_id, day, "RETURN_ACCEPTED" if accepted else "RETURN_REFUSED")
        body = encode_body(ReturnResponse(req.request_id, accepted, reason).to_json())
        return Answer(200, body, "RETURN_ACCEPTED" if accepted else f"RETURN_{reason}")
